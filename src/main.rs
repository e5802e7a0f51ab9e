//! The `stackctl` binary: parse, run, exit. Everything else lives in the library.

fn main() -> std::process::ExitCode {
    stackctl::run(std::env::args_os())
}
