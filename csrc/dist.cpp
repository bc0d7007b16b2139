// Data-parallel collectives on libtorch's own c10d: a TCPStore rendezvous (as torchrun's env:// rendezvous makes
// it), ProcessGroupGloo on the CPU (ProcessGroupNCCL under the `cuda` feature), and the four collectives the training
// loop needs. Tensors come from tch as `at::Tensor*` (tch's C_tensor). Exceptions never cross into Rust: every
// function returns 0 on success and writes a message into `err` otherwise.
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CACO_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

struct Dist {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int rank;
  int world;
  std::chrono::milliseconds timeout;
};

void set_err(char* err, size_t len, const std::string& msg) {
  if (err == nullptr || len == 0) return;
  size_t n = std::min(len - 1, msg.size());
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// c10::Error's what() carries a C++ backtrace; users need the first line.
std::string message_of(const std::exception& e) {
  std::string m = e.what();
  if (auto* c10e = dynamic_cast<const c10::Error*>(&e)) m = c10e->what_without_backtrace();
  // Gloo's transport errors carry a backtrace too, after the first line.
  auto cut = m.find('\n');
  return cut == std::string::npos ? m : m.substr(0, cut);
}

template <typename F>
int guarded(char* err, size_t len, const char* what, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_err(err, len, std::string(what) + ": " + message_of(e));
  } catch (...) {
    set_err(err, len, std::string(what) + ": unknown C++ exception");
  }
  return 1;
}

void wait(Dist* d, const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait(d->timeout)) throw std::runtime_error("timed out");
}

std::vector<at::Tensor> tensors_of(at::Tensor** ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

}  // namespace

extern "C" {

// Joins the group. `backend`: 0 Gloo, 1 NCCL. `is_server`: this process hosts the TCPStore (rank 0, unless torchrun's
// agent hosts it). `prefix`: the store prefix of the rendezvous ("" for none). Returns a handle, or null with `err`.
void* caco_dist_init(int backend, const char* host, int port, int rank, int world, int is_server, const char* prefix,
                     int64_t timeout_ms, char* err, size_t err_len) {
  Dist* out = nullptr;
  std::string where = std::string(host) + ":" + std::to_string(port);
  int rc = guarded(err, err_len, ("rendezvous at " + where).c_str(), [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = is_server != 0;
    opts.numWorkers = world;
    opts.waitWorkers = false;
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    if (prefix != nullptr && prefix[0] != '\0') store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
    store = c10::make_intrusive<c10d::PrefixStore>("default_pg", store);
    c10::intrusive_ptr<c10d::Backend> pg;
    if (backend == 0) {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname != nullptr && ifname[0] != '\0') {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    } else {
#ifdef CACO_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
#else
      throw std::runtime_error(
          "CUDA ranks need NCCL, which this build lacks (build with the `cuda` feature and NCCL's headers: see the "
          "build's warnings)");
#endif
    }
    out = new Dist{store, pg, rank, world, timeout};
  });
  return rc == 0 ? out : nullptr;
}

// Sums `n` tensors across ranks in place, in one flattened buffer per dtype (all must share dtype and device);
// `average` divides by the world size.
int caco_dist_all_reduce(void* handle, at::Tensor** ts, int n, int average, char* err, size_t err_len) {
  auto* d = static_cast<Dist*>(handle);
  return guarded(err, err_len, "all-reduce", [&] {
    if (n == 0) return;
    auto tensors = tensors_of(ts, n);
    std::vector<at::Tensor> flat_parts;
    flat_parts.reserve(n);
    for (auto& t : tensors) flat_parts.push_back(t.reshape({-1}));
    std::vector<at::Tensor> bucket{at::cat(flat_parts)};
    wait(d, d->backend->allreduce(bucket));
    if (average) bucket[0].div_(d->world);
    int64_t offset = 0;
    for (auto& t : tensors) {
      int64_t numel = t.numel();
      t.copy_(bucket[0].narrow(0, offset, numel).view(t.sizes()));
      offset += numel;
    }
  });
}

// Gathers `input` of every rank into `output` (world x input's first dimension, rank order).
int caco_dist_all_gather(void* handle, at::Tensor* input, at::Tensor* output, char* err, size_t err_len) {
  auto* d = static_cast<Dist*>(handle);
  return guarded(err, err_len, "all-gather", [&] {
    if (output->size(0) != input->size(0) * d->world) {
      throw std::runtime_error("output has " + std::to_string(output->size(0)) + " rows, expected " +
                               std::to_string(input->size(0) * d->world));
    }
    std::vector<at::Tensor> inputs{input->contiguous()};
    std::vector<std::vector<at::Tensor>> outputs(1);
    auto staged = at::empty_like(*output);
    for (auto& chunk : staged.chunk(d->world, 0)) outputs[0].push_back(chunk);
    wait(d, d->backend->allgather(outputs, inputs));
    for (int r = 0; r < d->world; ++r) {
      output->narrow(0, r * input->size(0), input->size(0)).copy_(outputs[0][r]);
    }
  });
}

// Copies rank `root`'s tensors into every rank's.
int caco_dist_broadcast(void* handle, at::Tensor** ts, int n, int root, char* err, size_t err_len) {
  auto* d = static_cast<Dist*>(handle);
  return guarded(err, err_len, "broadcast", [&] {
    for (int i = 0; i < n; ++i) {
      std::vector<at::Tensor> one{ts[i]->contiguous()};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      wait(d, d->backend->broadcast(one, opts));
      if (!one[0].is_same(*ts[i])) ts[i]->copy_(one[0]);
    }
  });
}

int caco_dist_barrier(void* handle, char* err, size_t err_len) {
  auto* d = static_cast<Dist*>(handle);
  return guarded(err, err_len, "barrier", [&] { wait(d, d->backend->barrier()); });
}

// Hosts a TCPStore at host:port for `world` ranks that are all clients, as torchrun's agent does under
// TORCHELASTIC_USE_AGENT_STORE. Returns a handle (free with caco_dist_store_free), or null with `err`.
void* caco_dist_store_host(const char* host, int port, int world, int64_t timeout_ms, char* err, size_t err_len) {
  c10::intrusive_ptr<c10d::Store>* out = nullptr;
  std::string where = std::string(host) + ":" + std::to_string(port);
  guarded(err, err_len, ("store at " + where).c_str(), [&] {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = true;
    opts.numWorkers = world;
    opts.waitWorkers = false;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    out = new c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::TCPStore>(host, opts));
  });
  return out;
}

void caco_dist_store_free(void* handle) {
  try {
    delete static_cast<c10::intrusive_ptr<c10d::Store>*>(handle);
  } catch (...) {
  }
}

void caco_dist_free(void* handle) {
  try {
    delete static_cast<Dist*>(handle);
  } catch (...) {
  }
}
}
