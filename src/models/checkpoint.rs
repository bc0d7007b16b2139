//! PyTorch checkpoints without Python: [`read_state_dict`] reads a `torch.save` file (`.pth`, Lightning `.ckpt`; the
//! zip layout of PyTorch >= 1.6 and the older single-pickle layout) through the `pytorch-reader` crate into libtorch
//! tensors, and [`write_pth`] writes named tensors as the zip `torch.save` writes (`<archive>/data.pkl`, one
//! `<archive>/data/<key>` file of raw little-endian bytes per storage, `<archive>/version`), which `torch.load` reads
//! as an `OrderedDict` (also under `weights_only=True`). Follows PyTorch's `torch/serialization.py` format.

use std::io::Write;
use std::path::Path;

use pytorch_reader::{DType, PytorchReader};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// The tensors of a checkpoint's state dict, by name (sorted).
#[derive(Debug)]
pub struct StateDict {
    pub tensors: Vec<(String, Tensor)>,
    /// `Some("state_dict")` when the file is a Lightning checkpoint whose weights sit under that key.
    pub nested_under: Option<String>,
    /// Tensors outside the state dict (optimizer states, callback states), skipped.
    pub n_skipped: usize,
}

/// Key under which Lightning (and SeCo/CACo's training scripts) keep the model's weights.
const LIGHTNING_KEY: &str = "state_dict";

/// Reads the state dict of a PyTorch checkpoint: the file's tensors, or those under `state_dict` when the file is a
/// Lightning checkpoint. Python objects the file also holds (hyper-parameters, callbacks) are skipped unless they
/// carry tensors outside a dictionary, which the reader refuses (the error says how to re-save the weights alone).
/// Strided views are gathered into contiguous tensors.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    if !path.is_file() {
        return Err(Error::bad_input(path, "checkpoint not found"));
    }
    let reader = PytorchReader::new(path).map_err(|e| {
        Error::bad_input(
            path,
            format!(
                "not a PyTorch checkpoint caco can read ({e}); expected a file written by torch.save (a state dict or \
                 a Lightning .ckpt). If it pickles other Python objects holding tensors, re-save the weights alone in \
                 Python: torch.save(torch.load(f, weights_only=False)[\"state_dict\"], \"weights.pth\")"
            ),
        )
    })?;
    let all = reader.into_tensors();
    let prefix = format!("{LIGHTNING_KEY}.");
    let nested = all.keys().any(|k| k.starts_with(&prefix));
    let mut tensors = Vec::new();
    let mut n_skipped = 0;
    for (name, tensor) in all {
        let name = if nested {
            match name.strip_prefix(&prefix) {
                Some(rest) => rest.to_string(),
                None => {
                    n_skipped += 1;
                    continue;
                }
            }
        } else {
            name
        };
        let kind = kind_of(tensor.dtype()).ok_or_else(|| {
            Error::bad_input(
                path,
                format!("tensor `{name}` has element type {:?}, which libtorch cannot hold", tensor.dtype()),
            )
        })?;
        let size: Vec<i64> = tensor.shape().iter().map(|&s| s as i64).collect();
        let bytes = tensor
            .read()
            .map_err(|e| Error::bad_input(path, format!("reading tensor `{name}`: {e}")))?;
        tensors.push((name, Tensor::f_from_data_size(&bytes, &size, kind)?));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(StateDict {
        tensors,
        nested_under: nested.then(|| LIGHTNING_KEY.to_string()),
        n_skipped,
    })
}

fn kind_of(dtype: DType) -> Option<Kind> {
    Some(match dtype {
        DType::F64 => Kind::Double,
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
        DType::U16 | DType::U32 | DType::U64 => return None,
    })
}

/// PyTorch's storage class for a libtorch element type.
fn storage_class(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Double => "DoubleStorage",
        Kind::Float => "FloatStorage",
        Kind::Half => "HalfStorage",
        Kind::BFloat16 => "BFloat16Storage",
        Kind::Int64 => "LongStorage",
        Kind::Int => "IntStorage",
        Kind::Int16 => "ShortStorage",
        Kind::Int8 => "CharStorage",
        Kind::Uint8 => "ByteStorage",
        Kind::Bool => "BoolStorage",
        _ => return None,
    })
}

/// Pickle protocol 2 opcodes used by [`write_pth`] (Python's `pickletools` documents each).
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const REDUCE: u8 = b'R';
    pub const MARK: u8 = b'(';
    pub const TUPLE: u8 = b't';
    pub const BINUNICODE: u8 = b'X';
    pub const BININT: u8 = b'J';
    pub const BINPERSID: u8 = b'Q';
    pub const NEWFALSE: u8 = 0x89;
    pub const SETITEMS: u8 = b'u';
    pub const STOP: u8 = b'.';
}

/// The pickle of an `OrderedDict` of tensors, each rebuilt by `torch._utils._rebuild_tensor_v2` from storage `i`
/// (a persistent id `('storage', torch.<Class>, '<i>', 'cpu', numel)`), contiguous, offset 0.
struct Pickle(Vec<u8>);

impl Pickle {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(op::GLOBAL);
        self.0.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn string(&mut self, s: &str) {
        self.0.push(op::BINUNICODE);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) -> Result<()> {
        let v = i32::try_from(v)
            .map_err(|_| Error::Config(format!("{v} elements do not fit the .pth writer's 32-bit integers")))?;
        self.0.push(op::BININT);
        self.0.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn int_tuple(&mut self, values: &[i64]) -> Result<()> {
        self.0.push(op::MARK);
        for &v in values {
            self.int(v)?;
        }
        self.0.push(op::TUPLE);
        Ok(())
    }

    fn empty_ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.0.push(op::EMPTY_TUPLE);
        self.0.push(op::REDUCE);
    }

    fn tensor(&mut self, key: usize, class: &str, size: &[i64]) -> Result<()> {
        let numel: i64 = size.iter().product();
        // Contiguous strides, innermost 1.
        let mut stride = vec![1i64; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.0.push(op::MARK);
        self.0.push(op::MARK);
        self.string("storage");
        self.global("torch", class);
        self.string(&key.to_string());
        self.string("cpu");
        self.int(numel)?;
        self.0.push(op::TUPLE);
        self.0.push(op::BINPERSID);
        self.int(0)?;
        self.int_tuple(size)?;
        self.int_tuple(&stride)?;
        self.0.push(op::NEWFALSE);
        self.empty_ordered_dict();
        self.0.push(op::TUPLE);
        self.0.push(op::REDUCE);
        Ok(())
    }
}

/// Writes `tensors` (in this order) as a `torch.save` file that `torch.load` reads as an `OrderedDict` of CPU tensors.
pub fn write_pth(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut pickle = Pickle(vec![op::PROTO, 2]);
    pickle.empty_ordered_dict();
    pickle.0.push(op::MARK);
    let mut storages = Vec::with_capacity(tensors.len());
    for (key, (name, tensor)) in tensors.iter().enumerate() {
        let class = storage_class(tensor.kind()).ok_or_else(|| {
            Error::Config(format!("tensor `{name}` has kind {:?}, which the .pth writer does not handle", tensor.kind()))
        })?;
        let tensor = tensor.to_device(Device::Cpu).contiguous();
        let numel = tensor.numel();
        let mut bytes = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
        tensor.f_copy_data_u8(&mut bytes, numel)?;
        pickle.string(name);
        pickle.tensor(key, class, &tensor.size())?;
        storages.push(bytes);
    }
    pickle.0.push(op::SETITEMS);
    pickle.0.push(op::STOP);

    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let stored = zip::write::FileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(storages.iter().map(Vec::len).sum::<usize>() > u32::MAX as usize / 2);
        zip.start_file("archive/data.pkl", stored)?;
        zip.write_all(&pickle.0)?;
        zip.start_file("archive/byteorder", stored)?;
        zip.write_all(b"little")?;
        for (key, bytes) in storages.iter().enumerate() {
            zip.start_file(format!("archive/data/{key}"), stored)?;
            zip.write_all(bytes)?;
        }
        zip.start_file("archive/version", stored)?;
        zip.write_all(b"3\n")?;
        zip.finish()?.flush()
    };
    write().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_pth_reads_back_with_values_kinds_and_order_of_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.pth");
        let weight = Tensor::arange(24, (Kind::Float, Device::Cpu)).reshape([2, 3, 4]) * 0.5;
        // A transposed view: written contiguous.
        let view = Tensor::arange(6, (Kind::Float, Device::Cpu)).reshape([2, 3]).transpose(0, 1);
        let counter = Tensor::from(5i64);
        let tensors = vec![
            ("conv1.weight".to_string(), weight.shallow_clone()),
            ("bn1.num_batches_tracked".to_string(), counter.shallow_clone()),
            ("layer1.0.conv1.weight".to_string(), view.shallow_clone()),
        ];
        write_pth(&path, &tensors).unwrap();
        let read = read_state_dict(&path).unwrap();
        assert_eq!(read.nested_under, None);
        let names: Vec<&str> = read.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bn1.num_batches_tracked", "conv1.weight", "layer1.0.conv1.weight"]);
        assert!(read.tensors[0].1.equal(&counter));
        assert_eq!(read.tensors[0].1.kind(), Kind::Int64);
        assert!(read.tensors[1].1.equal(&weight));
        assert!(read.tensors[2].1.equal(&view));
        assert_eq!(read.tensors[2].1.size(), [3, 2]);
    }

    #[test]
    fn a_file_that_is_no_checkpoint_is_refused_with_its_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.pth");
        std::fs::write(&path, "just text").unwrap();
        let msg = read_state_dict(&path).unwrap_err().to_string();
        assert!(msg.contains("notes.pth") && msg.contains("torch.save"), "{msg}");
        let missing = read_state_dict(&dir.path().join("absent.ckpt")).unwrap_err().to_string();
        assert!(missing.contains("absent.ckpt") && missing.contains("not found"), "{missing}");
    }
}
