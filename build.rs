//! Embeds libtorch's library folder as an rpath so that binaries and tests run without LD_LIBRARY_PATH, links
//! libtorch_cuda explicitly under the `cuda` feature (Rust links with --as-needed, which drops it), and compiles
//! `csrc/autocast.cpp` (bf16 autocast, which tch does not expose).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
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
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
}
