//! Embeds libtorch's library folder as an rpath so that binaries and tests run without LD_LIBRARY_PATH, links
//! libtorch_cuda explicitly under the `cuda` feature (Rust links with --as-needed, which drops it), and compiles
//! `csrc/autocast.cpp` (bf16 autocast, which tch does not expose) and `csrc/dist.cpp` (c10d collectives for
//! data-parallel training; it needs gloo's headers, from Debian's libgloo-dev, which the wheel lacks: without them
//! the build goes on and `caco_dist` stays unset, so a multi-process run says how to get them).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-changed=csrc/dist.cpp");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE");
    println!("cargo::rustc-check-cfg=cfg(caco_dist)");
    // Set by torch-sys (`links = "tch"`) from the LIBTORCH it built against; absent without the `torch` feature.
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{lib_dir}");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    let include = std::path::Path::new(&lib_dir).join("../include");
    cc::Build::new()
        .cpp(true)
        .file("csrc/autocast.cpp")
        .include(&include)
        .flag("-std=c++17")
        // PyTorch wheels since 2.7 are built with the C++11 ABI.
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("caco_autocast");
    let gloo = std::env::var("GLOO_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    if std::path::Path::new(&gloo).join("gloo/config.h").is_file() {
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .file("csrc/dist.cpp")
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .include(&gloo)
            .flag("-std=c++17")
            .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
            .flag("-DGLOG_USE_GLOG_EXPORT")
            .flag("-DUSE_C10D_GLOO")
            .warnings(false);
        if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
            // ProcessGroupNCCL needs nccl.h and CUDA's runtime headers, which the torch wheel does not ship: the
            // nvidia-* wheels beside it (site-packages/nvidia/...) or a CUDA toolkit do. Without them NCCL is left
            // out and a multi-GPU run says so; CPU ranks (Gloo) still work.
            let site = std::path::Path::new(&lib_dir).join("../..");
            let find = |header: &str, env: &str, dirs: &[&str]| {
                std::env::var(env)
                    .ok()
                    .map(std::path::PathBuf::from)
                    .into_iter()
                    .chain(dirs.iter().map(|d| match d.strip_prefix("site:") {
                        Some(rel) => site.join(rel),
                        None => std::path::PathBuf::from(d),
                    }))
                    .find(|d| d.join(header).is_file())
            };
            println!("cargo:rerun-if-env-changed=NCCL_INCLUDE");
            println!("cargo:rerun-if-env-changed=CUDA_INCLUDE");
            let nccl = find(
                "nccl.h",
                "NCCL_INCLUDE",
                &[
                    "site:nvidia/nccl/include",
                    "site:nvidia/cu13/include",
                    "site:nvidia/cu12/include",
                    "/usr/include",
                    "/usr/local/cuda/include",
                ],
            );
            let cuda = find(
                "cuda_runtime_api.h",
                "CUDA_INCLUDE",
                &[
                    "site:nvidia/cu13/include",
                    "site:nvidia/cuda_runtime/include",
                    "/usr/local/cuda/include",
                    "/usr/include",
                ],
            );
            match (nccl, cuda) {
                (Some(nccl), Some(cuda)) => {
                    build
                        .include(nccl)
                        .include(cuda)
                        .flag("-DUSE_C10D_NCCL")
                        .flag("-DCACO_NCCL");
                }
                _ => println!(
                    "cargo:warning=nccl.h or cuda_runtime_api.h not found (install the nvidia-nccl wheel matching \
                     torch, or set NCCL_INCLUDE / CUDA_INCLUDE): multi-GPU training (NCCL) is disabled in this build"
                ),
            }
        }
        build.compile("caco_dist");
        println!("cargo:rustc-cfg=caco_dist");
    } else {
        println!(
            "cargo:warning=gloo headers not found under {gloo} (install libgloo-dev, or set GLOO_INCLUDE): \
             multi-process training is disabled in this build"
        );
    }
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
}
