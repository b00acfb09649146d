//! The `gpubroker` binary: parse the command line and hand it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    gpubroker::cli::run(gpubroker::cli::Cli::parse())
}
