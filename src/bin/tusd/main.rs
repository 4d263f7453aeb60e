//! `tusd`: a tus 1.0.0 upload server over a folder.

mod args;
mod hooks;
mod server;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = args::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // File-store I/O runs on the blocking pool. Past a few threads more
        // only contend on the same folder, and each one costs memory.
        .max_blocking_threads(32)
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tusd: cannot start the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            std::process::ExitCode::FAILURE
        }
    }
}
