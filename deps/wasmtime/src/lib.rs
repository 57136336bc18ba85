//! Re-export Wasmtime's C API so that every `extern "C"` symbol of
//! wasmtime-c-api-impl lands in this crate's static library.
pub use wasmtime_c_api::*;
