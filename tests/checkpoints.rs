//! PyTorch checkpoints without Python: the committed fixtures of bench/parity/make_checkpoints.py (a SeCo-style
//! Lightning `.ckpt`, CACo's plain `.pth`, a torchgeo/timm state dict in the pre-1.6 format) read tensor by tensor,
//! the import report on them, and, where `.venv-bench` exists, a torchvision ResNet-18 round trip through
//! `caco import-weights` and `caco export-weights --format pth` whose forward passes equal torchvision's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use caco::models::checkpoint::read_state_dict;
use caco::models::weights::{import_checkpoint, load_backbone, read_contract};
use caco::models::Arch;
use common::{caco, ok_both};
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints").join(name)
}

/// `arange(n) * 0.25 + offset` in `shape`, as make_checkpoints.py fills every tensor.
fn filled(shape: &[i64], offset: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    Tensor::arange(n, (Kind::Float, Device::Cpu)).reshape(shape) * 0.25 + offset
}

fn assert_tensors(path: &Path, want: &[(&str, Tensor)], n_skipped: usize, nested: Option<&str>) {
    let got = read_state_dict(path).unwrap();
    let names: Vec<&str> = got.tensors.iter().map(|(n, _)| n.as_str()).collect();
    let mut want_names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
    want_names.sort();
    assert_eq!(names, want_names, "{}", path.display());
    for (name, expected) in want {
        let (_, t) = got.tensors.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(t.kind(), expected.kind(), "{name}");
        assert_eq!(t.size(), expected.size(), "{name}");
        assert!(t.equal(expected), "{name}: values differ");
    }
    assert_eq!(got.n_skipped, n_skipped, "{}", path.display());
    assert_eq!(got.nested_under.as_deref(), nested);
}

#[test]
fn the_lightning_checkpoint_gives_its_state_dict_and_skips_the_rest() {
    assert_tensors(
        &fixture("seco.ckpt"),
        &[
            ("encoder_q.0.weight", filled(&[8, 3, 3, 3], 1.0)),
            ("encoder_q.1.weight", filled(&[8], 2.0)),
            ("encoder_q.1.bias", filled(&[8], 3.0)),
            ("encoder_q.1.running_mean", filled(&[8], 4.0)),
            ("encoder_q.1.running_var", filled(&[8], 5.0)),
            ("encoder_q.1.num_batches_tracked", Tensor::from(7i64)),
            // Saved as a permuted view of a [3, 3, 8, 8] storage: gathered in its own layout.
            ("encoder_q.4.0.conv1.weight", filled(&[3, 3, 8, 8], 6.0).permute([2, 3, 0, 1])),
            ("encoder_k.0.weight", filled(&[8, 3, 3, 3], 7.0)),
            ("heads.0.0.weight", filled(&[4, 8], 8.0)),
            ("queue", filled(&[4, 16], 9.0)),
        ],
        // The optimizer's momentum buffer and the early-stopping callback's best score.
        2,
        Some("state_dict"),
    );
}

#[test]
fn plain_and_legacy_state_dicts_are_read() {
    assert_tensors(
        &fixture("caco.pth"),
        &[
            ("conv1.weight", filled(&[8, 13, 3, 3], 11.0)),
            ("bn1.running_var", filled(&[8], 12.0)),
            ("layer4.1.bn2.bias", filled(&[8], 13.0)),
            ("fc.weight", filled(&[10, 8], 14.0)),
        ],
        0,
        None,
    );
    assert_tensors(
        &fixture("torchgeo-legacy.pth"),
        &[
            ("conv1.weight", filled(&[8, 4, 3, 3], 15.0)),
            ("layer1.0.downsample.0.weight", filled(&[8, 8, 1, 1], 16.0)),
            ("fc.bias", filled(&[10], 17.0)),
            ("layer1.0.se.fc1.weight", filled(&[2, 8, 1, 1], 18.0)),
        ],
        0,
        None,
    );
}

#[test]
fn the_import_report_names_missing_unexpected_and_mismatched_keys() {
    // SeCo: the prefix is found, the few tensors map to torchvision names (with the fixture's small shapes).
    let (tensors, report, prefix) = import_checkpoint(&fixture("seco.ckpt"), None).unwrap();
    assert_eq!(prefix, "encoder_q");
    assert_eq!((report.arch, report.in_channels), (Some(Arch::Resnet18), 3));
    assert!(tensors.is_empty(), "every fixture tensor is smaller than ResNet-18's");
    let mismatched: Vec<&str> = report.shape_mismatch.iter().map(|(n, ..)| n.as_str()).collect();
    assert_eq!(
        mismatched,
        [
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.weight",
            "conv1.weight",
            "layer1.0.conv1.weight"
        ]
    );
    assert!(report.missing.contains(&"layer4.1.bn2.bias".to_string()));
    assert!(!report.missing.contains(&"conv1.weight".to_string()));
    assert_eq!(report.missing.len() + mismatched.len(), 100, "ResNet-18 has 100 backbone tensors");
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    // encoder_k, heads and queue in the state dict, optimizer and callback tensors outside it.
    assert_eq!(report.n_ignored, 5);

    // A bare timm/torchgeo state dict: no prefix, fc dropped, the SE layer unexpected, and so is layer1's downsample
    // (ResNet-50 has one; without `layer1.0.conv3` this is read as a ResNet-18, whose layer1 keeps the width).
    let (_, report, prefix) = import_checkpoint(&fixture("torchgeo-legacy.pth"), None).unwrap();
    assert_eq!((prefix.as_str(), report.arch, report.in_channels), ("", Some(Arch::Resnet18), 4));
    assert_eq!(report.unexpected, ["layer1.0.downsample.0.weight", "layer1.0.se.fc1.weight"]);
    assert_eq!(report.n_ignored, 1);

    // A wrong prefix is refused naming it.
    let msg = import_checkpoint(&fixture("caco.pth"), Some("model")).unwrap_err().to_string();
    assert!(msg.contains("`model`"), "{msg}");
}

#[test]
fn the_import_command_lists_problems_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.safetensors");
    let run = caco(&[
        "import-weights",
        fixture("torchgeo-legacy.pth").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("unexpected: layer1.0.se.fc1.weight"), "{stderr}");
    assert!(stderr.contains("missing: layer4.1.bn2.bias"), "{stderr}");
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert!(!out.exists());
}

/// `.venv-bench/bin/python` when present (torch + torchvision), else None with the reason printed.
fn bench_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-bench/bin/python");
    let works = python.is_file()
        && Command::new(&python)
            .args(["-c", "import torch, torchvision, safetensors"])
            .status()
            .is_ok_and(|s| s.success());
    if !works {
        eprintln!("skipped: no .venv-bench with torch, torchvision and safetensors (cargo xtask setup --bench makes it)");
    }
    works.then_some(python)
}

/// Writes a SeCo-style checkpoint of a random torchvision ResNet-18 (Lightning nesting, `encoder_q` as
/// `nn.Sequential` of the children), a fixed input and torchvision's pooled features into `dir`.
const MAKE_RESNET: &str = r#"
import argparse, collections, sys
import torch, torchvision
from safetensors.torch import save_file
torch.manual_seed(0)
net = torchvision.models.resnet18()
for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 2.0)
        m.weight.data.uniform_(0.5, 1.5); m.bias.data.uniform_(-0.2, 0.2)
encoder = torch.nn.Sequential(*list(net.children())[:-1])
state = collections.OrderedDict(("encoder_q." + k, v) for k, v in encoder.state_dict().items())
state["queue"] = torch.randn(128, 16)
torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": argparse.Namespace(base_encoder="resnet18"),
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.03}]}]}, sys.argv[1] + "/r18.ckpt")
net.fc = torch.nn.Identity()
net.eval()
x = torch.rand(2, 3, 64, 64)
with torch.no_grad():
    save_file({"x": x, "y": net(x)}, sys.argv[1] + "/golden.safetensors")
"#;

/// Loads caco's exported .pth into torchvision's ResNet-18 and prints the keys it lacks, those it did not use, and
/// the largest difference of its forward pass to the golden output.
const LOAD_PTH: &str = r#"
import sys
import torch, torchvision
from safetensors.torch import load_file
sd = torch.load(sys.argv[1] + "/export.pth")
golden = load_file(sys.argv[1] + "/golden.safetensors")
net = torchvision.models.resnet18()
result = net.load_state_dict(sd, strict=False)
net.fc = torch.nn.Identity()
net.eval()
with torch.no_grad():
    diff = (net(golden["x"]) - golden["y"]).abs().max().item()
print(type(sd).__name__, sorted(result.missing_keys), sorted(result.unexpected_keys), diff)
"#;

#[test]
fn a_torchvision_resnet18_round_trips_through_import_and_export() {
    let Some(python) = bench_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let status = Command::new(&python).args(["-c", MAKE_RESNET, d]).status().unwrap();
    assert!(status.success());

    let backbone = dir.path().join("backbone.safetensors");
    let (_, stderr) = ok_both(&caco(&[
        "import-weights",
        &format!("{d}/r18.ckpt"),
        "--out",
        backbone.to_str().unwrap(),
        "--bands",
        "B4,B3,B2",
        "--normalization",
        "imagenet",
    ]));
    assert!(stderr.contains("100 tensors imported"), "{stderr}");
    let contract = read_contract(&backbone).unwrap().unwrap();
    assert_eq!((contract.arch, contract.in_channels), (Arch::Resnet18, 3));
    assert_eq!(contract.bands, ["B4", "B3", "B2"]);
    assert_eq!(contract.normalization, Some(caco::data::Normalization::Imagenet));

    let golden: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("golden.safetensors")).unwrap().into_iter().collect();
    let (_vs, net) = load_backbone(Arch::Resnet18, 3, 0, Some(&backbone), "round trip", Device::Cpu).unwrap();
    let y = tch::no_grad(|| net.forward_t(&golden["x"], false));
    let diff = (&y - &golden["y"]).abs().max().double_value(&[]);
    eprintln!("caco forward vs torchvision: max |diff| = {diff:e}");
    assert!(diff < 1e-4, "caco forward differs from torchvision's by {diff}");

    // Evaluation refuses the weights for another band count, naming the file and both counts.
    let msg = load_backbone(Arch::Resnet18, 13, 0, Some(&backbone), "s2", Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("backbone.safetensors") && msg.contains("3 input bands (B4,B3,B2)") && msg.contains("feeds 13"),
        "{msg}"
    );

    let export = dir.path().join("export.pth");
    ok_both(&caco(&[
        "export-weights",
        backbone.to_str().unwrap(),
        "--format",
        "pth",
        "--out",
        export.to_str().unwrap(),
    ]));
    let out = Command::new(&python).args(["-c", LOAD_PTH, d]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let fields: Vec<&str> = stdout.trim().splitn(2, ' ').collect();
    assert_eq!(fields[0], "OrderedDict", "{stdout}");
    assert!(
        fields[1].starts_with("['fc.bias', 'fc.weight'] [] "),
        "torchvision should lack only fc: {stdout}"
    );
    let diff: f64 = stdout.trim().rsplit(' ').next().unwrap().parse().unwrap();
    eprintln!("torchvision forward on the exported .pth vs the original: max |diff| = {diff:e}");
    assert!(diff < 1e-5, "{stdout}");
}
