//! `tusd`: a tus 1.0.0 upload server over a folder.

mod args;
mod connection;
mod go_flags;
mod hooks;
mod server;

use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    let args = args::Args::from_command_line();
    // Not verbose: no line per request, nor per upload event.
    let quiet = if args.verbose {
        "info"
    } else {
        "info,tower_tus=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(quiet));
    // Logs go to standard output, as tusd's do; colour only for a terminal.
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    match args.log_format {
        args::LogFormat::Text => log.init(),
        args::LogFormat::Json => log.json().flatten_event(true).init(),
    }
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
