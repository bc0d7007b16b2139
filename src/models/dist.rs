//! Data-parallel training across processes on libtorch's own c10d (`csrc/dist.cpp`): a TCPStore rendezvous from
//! torchrun's variables, ProcessGroupGloo on the CPU and ProcessGroupNCCL on CUDA (`cuda` feature), and the
//! collectives the loop needs (all-reduce in one flattened bucket, all-gather, broadcast, barrier).
//!
//! [`Dist::single`] is the one-process form: every collective returns at once, unchanged, so the training loop has
//! one code path. Errors never hang: every collective and the rendezvous wait at most [`Rendezvous::timeout`], and a
//! peer that dies closes its connections, which fails the others' next collective at once.

use std::time::Duration;

use tch::{Device, Tensor};

use crate::{Error, Result};

/// Where and as whom a process joins the group: torchrun's variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
/// `MASTER_ADDR`, `MASTER_PORT`, `TORCHELASTIC_USE_AGENT_STORE`, `TORCHELASTIC_RESTART_COUNT`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendezvous {
    pub rank: usize,
    pub world: usize,
    /// Rank on this machine: the GPU this rank uses.
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent hosts the store (`TORCHELASTIC_USE_AGENT_STORE=True`): every rank is a client, under the
    /// store prefix of the agent's restart attempt.
    pub agent_store: Option<u32>,
    /// How long the rendezvous and each collective may wait (`CACO_DIST_TIMEOUT_S`, default 300 s).
    pub timeout: Duration,
}

impl Rendezvous {
    /// From the process environment; None when `WORLD_SIZE` is unset (a plain single-process run).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From `var` (the environment in [`Self::from_env`]); errors name the variable and its value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(world) = var("WORLD_SIZE") else {
            return Ok(None);
        };
        let bad = |name: &str, value: &str, want: &str| Error::Dist {
            rank: 0,
            reason: format!("{name}=`{value}` is not {want} (set by torchrun, `caco pretrain --nproc`, or by hand)"),
        };
        let number = |name: &str, default: Option<&str>| -> Result<u64> {
            let value = var(name)
                .or_else(|| default.map(str::to_string))
                .ok_or_else(|| Error::Dist {
                    rank: 0,
                    reason: format!("WORLD_SIZE is set but {name} is not (torchrun sets both)"),
                })?;
            value.trim().parse().map_err(|_| bad(name, &value, "a whole number"))
        };
        let world = world.trim().parse::<usize>().map_err(|_| bad("WORLD_SIZE", &world, "a whole number"))?;
        if world == 0 {
            return Err(bad("WORLD_SIZE", "0", "at least 1"));
        }
        let rank = number("RANK", None)? as usize;
        if rank >= world {
            return Err(bad("RANK", &rank.to_string(), &format!("below WORLD_SIZE={world}")));
        }
        let local_rank = number("LOCAL_RANK", Some(&rank.to_string()))? as usize;
        let master_addr = var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = number("MASTER_PORT", Some("29500"))?;
        let master_port = u16::try_from(port).map_err(|_| bad("MASTER_PORT", &port.to_string(), "a port number"))?;
        let agent_store = match var("TORCHELASTIC_USE_AGENT_STORE").as_deref().map(str::to_ascii_lowercase) {
            Some(v) if v == "true" || v == "1" => Some(number("TORCHELASTIC_RESTART_COUNT", Some("0"))? as u32),
            _ => None,
        };
        let timeout = Duration::from_secs(number("CACO_DIST_TIMEOUT_S", Some("300"))?);
        Ok(Some(Rendezvous {
            rank,
            world,
            local_rank,
            master_addr,
            master_port,
            agent_store,
            timeout,
        }))
    }
}

/// The process group of a run, or the one-process stand-in.
pub struct Dist {
    group: Option<Group>,
}

#[cfg_attr(not(caco_dist), allow(dead_code))]
struct Group {
    handle: *mut std::ffi::c_void,
    rank: usize,
    world: usize,
}

// SAFETY: the handle is only used through &self methods that c10d allows from any thread, one call at a time (the
// training loop is the only caller).
unsafe impl Send for Group {}

#[cfg(caco_dist)]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};
    use torch_sys::C_tensor;

    extern "C" {
        #[allow(clippy::too_many_arguments)]
        pub fn caco_dist_init(
            backend: c_int,
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            is_server: c_int,
            prefix: *const c_char,
            timeout_ms: i64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut c_void;
        pub fn caco_dist_all_reduce(
            h: *mut c_void,
            ts: *const *const C_tensor,
            n: c_int,
            average: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub fn caco_dist_all_gather(
            h: *mut c_void,
            input: *const C_tensor,
            output: *const C_tensor,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub fn caco_dist_broadcast(
            h: *mut c_void,
            ts: *const *const C_tensor,
            n: c_int,
            root: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub fn caco_dist_barrier(h: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
        pub fn caco_dist_free(h: *mut c_void);
        pub fn caco_dist_store_host(
            host: *const c_char,
            port: c_int,
            world: c_int,
            timeout_ms: i64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut c_void;
        pub fn caco_dist_store_free(h: *mut c_void);
    }
}

/// A buffer for the C++ side's message.
#[cfg(caco_dist)]
struct ErrBuf([u8; 2048]);

#[cfg(caco_dist)]
impl ErrBuf {
    fn new() -> Self {
        ErrBuf([0; 2048])
    }
    fn ptr(&mut self) -> (*mut std::ffi::c_char, usize) {
        (self.0.as_mut_ptr().cast(), self.0.len())
    }
    fn message(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl Dist {
    /// One process: collectives do nothing.
    pub fn single() -> Self {
        Dist { group: None }
    }

    /// The group torchrun's variables describe (see [`Rendezvous::from_env`]), or [`Dist::single`] without them or
    /// with `WORLD_SIZE=1`. CPU tensors use Gloo, CUDA tensors NCCL.
    pub fn from_env(device: Device) -> Result<Self> {
        match Rendezvous::from_env()? {
            Some(rv) if rv.world > 1 => Self::init(&rv, device),
            _ => Ok(Self::single()),
        }
    }

    /// Joins the group of `rv`: rank 0 hosts the TCPStore at MASTER_ADDR:MASTER_PORT unless torchrun's agent does.
    #[cfg(caco_dist)]
    pub fn init(rv: &Rendezvous, device: Device) -> Result<Self> {
        use std::ffi::CString;
        let fail = |reason: String| Error::Dist { rank: rv.rank, reason };
        let host = CString::new(rv.master_addr.clone()).map_err(|_| fail("MASTER_ADDR holds a NUL byte".into()))?;
        let prefix = rv.agent_store.map(|attempt| format!("/worker/attempt_{attempt}")).unwrap_or_default();
        let prefix = CString::new(prefix).expect("no NUL in a formatted prefix");
        let backend = i32::from(device.is_cuda());
        let is_server = i32::from(rv.rank == 0 && rv.agent_store.is_none());
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: valid C strings and buffer for the call's duration; the C++ side catches every exception.
        let handle = unsafe {
            ffi::caco_dist_init(
                backend,
                host.as_ptr(),
                i32::from(rv.master_port),
                rv.rank as i32,
                rv.world as i32,
                is_server,
                prefix.as_ptr(),
                rv.timeout.as_millis() as i64,
                e,
                n,
            )
        };
        if handle.is_null() {
            return Err(fail(format!(
                "{} (world of {}, waited at most {} s; is every rank started with the same MASTER_ADDR:MASTER_PORT?)",
                err.message(),
                rv.world,
                rv.timeout.as_secs()
            )));
        }
        Ok(Dist {
            group: Some(Group {
                handle,
                rank: rv.rank,
                world: rv.world,
            }),
        })
    }

    #[cfg(not(caco_dist))]
    pub fn init(rv: &Rendezvous, _device: Device) -> Result<Self> {
        Err(Error::Dist {
            rank: rv.rank,
            reason: "this build has no multi-process support: gloo's headers were missing when it was compiled; \
                     install Debian's libgloo-dev (`cargo xtask setup` does, as root) and rebuild"
                .into(),
        })
    }

    pub fn rank(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.rank)
    }

    pub fn world(&self) -> usize {
        self.group.as_ref().map_or(1, |g| g.world)
    }

    /// Rank 0: the one process that writes checkpoints, metrics and figures.
    pub fn is_main(&self) -> bool {
        self.rank() == 0
    }

    /// Averages `tensors` over ranks, in place (one flattened bucket; all of one dtype and device).
    pub fn all_reduce_mean(&self, tensors: &[Tensor]) -> Result<()> {
        self.all_reduce(tensors, true)
    }

    /// Sums `tensors` over ranks, in place.
    pub fn all_reduce_sum(&self, tensors: &[Tensor]) -> Result<()> {
        self.all_reduce(tensors, false)
    }

    #[cfg(caco_dist)]
    fn all_reduce(&self, tensors: &[Tensor], average: bool) -> Result<()> {
        let Some(g) = &self.group else { return Ok(()) };
        let ptrs: Vec<_> = tensors.iter().map(|t| t.as_ptr()).collect();
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: the tensors outlive the call; the C++ side catches every exception.
        let rc = unsafe {
            ffi::caco_dist_all_reduce(g.handle, ptrs.as_ptr(), ptrs.len() as i32, i32::from(average), e, n)
        };
        g.check(rc, &err)
    }

    #[cfg(not(caco_dist))]
    fn all_reduce(&self, _tensors: &[Tensor], _average: bool) -> Result<()> {
        Ok(())
    }

    /// Every rank's `t` stacked along dimension 0 in rank order (`t` itself in a single process).
    pub fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        let Some(g) = &self.group else { return Ok(t.shallow_clone()) };
        let input = t.contiguous();
        let mut shape = input.size();
        shape[0] *= g.world as i64;
        let output = Tensor::empty(shape.as_slice(), (input.kind(), input.device()));
        g.all_gather(&input, &output)?;
        Ok(output)
    }

    /// Rank `root`'s `tensors` copied into every rank's, in place.
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        let Some(g) = &self.group else { return Ok(()) };
        g.broadcast(tensors, root)
    }

    /// Waits until every rank has arrived.
    pub fn barrier(&self) -> Result<()> {
        let Some(g) = &self.group else { return Ok(()) };
        g.barrier()
    }
}

#[cfg(caco_dist)]
impl Group {
    fn check(&self, rc: i32, err: &ErrBuf) -> Result<()> {
        if rc == 0 {
            return Ok(());
        }
        Err(Error::Dist {
            rank: self.rank,
            reason: format!("{} (another rank failed or stopped; see its output)", err.message()),
        })
    }

    fn all_gather(&self, input: &Tensor, output: &Tensor) -> Result<()> {
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: both tensors outlive the call; the C++ side catches every exception.
        let rc = unsafe { ffi::caco_dist_all_gather(self.handle, input.as_ptr(), output.as_ptr(), e, n) };
        self.check(rc, &err)
    }

    fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        let ptrs: Vec<_> = tensors.iter().map(|t| t.as_ptr()).collect();
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: the tensors outlive the call; the C++ side catches every exception.
        let rc = unsafe { ffi::caco_dist_broadcast(self.handle, ptrs.as_ptr(), ptrs.len() as i32, root as i32, e, n) };
        self.check(rc, &err)
    }

    fn barrier(&self) -> Result<()> {
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: the C++ side catches every exception.
        let rc = unsafe { ffi::caco_dist_barrier(self.handle, e, n) };
        self.check(rc, &err)
    }
}

#[cfg(not(caco_dist))]
impl Group {
    fn all_gather(&self, _input: &Tensor, _output: &Tensor) -> Result<()> {
        unreachable!("no group exists without caco_dist")
    }
    fn broadcast(&self, _tensors: &[Tensor], _root: usize) -> Result<()> {
        unreachable!("no group exists without caco_dist")
    }
    fn barrier(&self) -> Result<()> {
        unreachable!("no group exists without caco_dist")
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        #[cfg(caco_dist)]
        // SAFETY: the handle came from caco_dist_init and is freed once.
        unsafe {
            ffi::caco_dist_free(self.handle)
        };
    }
}

/// A TCPStore hosted by this process for ranks that are all its clients: what torchrun's agent does
/// (`TORCHELASTIC_USE_AGENT_STORE=True`, [`Rendezvous::agent_store`]). The tests use it to stand in for torchrun.
pub struct StoreHost {
    #[cfg_attr(not(caco_dist), allow(dead_code))]
    handle: *mut std::ffi::c_void,
}

impl StoreHost {
    /// Listens at `addr:port` for `world` ranks.
    #[cfg(caco_dist)]
    pub fn start(addr: &str, port: u16, world: usize, timeout: Duration) -> Result<Self> {
        let fail = |reason: String| Error::Dist { rank: 0, reason };
        let host = std::ffi::CString::new(addr).map_err(|_| fail("the address holds a NUL byte".into()))?;
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: valid C string and buffer for the call's duration; the C++ side catches every exception.
        let handle = unsafe {
            ffi::caco_dist_store_host(host.as_ptr(), i32::from(port), world as i32, timeout.as_millis() as i64, e, n)
        };
        if handle.is_null() {
            return Err(fail(err.message()));
        }
        Ok(StoreHost { handle })
    }

    #[cfg(not(caco_dist))]
    pub fn start(_addr: &str, _port: u16, _world: usize, _timeout: Duration) -> Result<Self> {
        Err(Error::Dist {
            rank: 0,
            reason: "this build has no multi-process support (no gloo headers when it was compiled)".into(),
        })
    }
}

impl Drop for StoreHost {
    fn drop(&mut self) {
        #[cfg(caco_dist)]
        // SAFETY: the handle came from caco_dist_store_host and is freed once.
        unsafe {
            ffi::caco_dist_store_free(self.handle)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn torchrun_variables_give_the_rendezvous() {
        assert_eq!(Rendezvous::from_vars(vars(&[])).unwrap(), None);
        let rv = Rendezvous::from_vars(vars(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29400"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (rv.rank, rv.world, rv.local_rank, rv.master_addr.as_str(), rv.master_port, rv.agent_store),
            (3, 4, 1, "node0", 29400, Some(2))
        );
        assert_eq!(rv.timeout, Duration::from_secs(300));
        // Defaults: LOCAL_RANK = RANK, 127.0.0.1:29500, rank 0 hosts the store.
        let rv = Rendezvous::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "1")])).unwrap().unwrap();
        assert_eq!((rv.local_rank, rv.master_addr.as_str(), rv.master_port, rv.agent_store), (1, "127.0.0.1", 29500, None));
        for (bad, named) in [
            (vec![("WORLD_SIZE", "2")], "RANK is not"),
            (vec![("WORLD_SIZE", "2"), ("RANK", "2")], "below WORLD_SIZE=2"),
            (vec![("WORLD_SIZE", "two"), ("RANK", "0")], "WORLD_SIZE=`two`"),
            (vec![("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "70000")], "MASTER_PORT=`70000`"),
        ] {
            let msg = Rendezvous::from_vars(vars(&bad)).unwrap_err().to_string();
            assert!(msg.contains(named), "{msg}");
        }
    }

    #[test]
    fn one_process_collectives_return_their_input() {
        let d = Dist::single();
        assert_eq!((d.rank(), d.world(), d.is_main()), (0, 1, true));
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        d.all_reduce_mean(&[t.shallow_clone()]).unwrap();
        d.broadcast(&[t.shallow_clone()], 0).unwrap();
        d.barrier().unwrap();
        assert!(d.all_gather(&t).unwrap().equal(&t));
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
