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
            // ProcessGroupNCCL needs nccl.h and CUDA's headers (runtime, crt, CCCL's nv/target, cuSPARSE, cuBLAS),
            // which the torch wheel does not ship: the nvidia-* wheels beside it (site-packages/nvidia/..., the full
            // torch install plus nvidia-cuda-crt and nvidia-cuda-cccl) or a CUDA toolkit do. Without any of them NCCL
            // is left out and a multi-GPU run says so; CPU ranks (Gloo) still work.
            println!("cargo:rerun-if-env-changed=NCCL_INCLUDE");
            println!("cargo:rerun-if-env-changed=CUDA_INCLUDE");
            let site = std::path::Path::new(&lib_dir).join("../..");
            let candidates: Vec<std::path::PathBuf> = ["NCCL_INCLUDE", "CUDA_INCLUDE"]
                .iter()
                .filter_map(|v| std::env::var(v).ok().map(std::path::PathBuf::from))
                .chain(
                    [
                        "nvidia/nccl/include",
                        "nvidia/cu13/include",
                        "nvidia/cu12/include",
                        "nvidia/cuda_runtime/include",
                    ]
                    .iter()
                    .map(|rel| site.join(rel)),
                )
                .chain(
                    ["/usr/local/cuda/include", "/usr/include"]
                        .iter()
                        .map(std::path::PathBuf::from),
                )
                .collect();
            let headers = [
                "nccl.h",
                "cuda_runtime_api.h",
                "crt/host_config.h",
                "nv/target",
                "cusparse.h",
                "cublas_v2.h",
            ];
            let mut dirs: Vec<&std::path::PathBuf> = Vec::new();
            let mut missing = Vec::new();
            for header in headers {
                match candidates.iter().find(|d| d.join(header).is_file()) {
                    Some(d) if !dirs.contains(&d) => dirs.push(d),
                    Some(_) => {}
                    None => missing.push(header),
                }
            }
            if missing.is_empty() {
                for d in dirs {
                    build.include(d);
                }
                build.flag("-DUSE_C10D_NCCL").flag("-DCACO_NCCL");
            } else {
                println!(
                    "cargo:warning=no {} under the nvidia wheels beside torch, /usr/local/cuda/include or \
                     NCCL_INCLUDE/CUDA_INCLUDE: multi-GPU training (NCCL) is disabled in this build",
                    missing.join(", ")
                );
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
