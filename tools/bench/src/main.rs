//! The `warren-bench` command: parse the arguments, run one scenario on a tokio runtime,
//! print its JSON line. Exit codes: 0 every check passed, 1 a check failed or the run broke
//! off (the JSON line then has `"ok":false` and an `error`), 2 a usage error.

use std::process::ExitCode;
use std::time::Duration;

use warren_bench::args::{self, Options, Scenario};
use warren_bench::error::Error;
use warren_bench::report;
use warren_bench::{scenario, sink};

fn main() -> ExitCode {
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(options) => options,
        // --help and --version too: clap prints them on stdout and exits 0, errors on stderr
        // and exits 2.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = options.threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("warren-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(&options));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(o: &Options) -> ExitCode {
    if o.scenario == Scenario::Sink {
        return serve_sink(o.port).await;
    }
    match scenario::run(o).await {
        Ok((line, ok)) => {
            println!("{line}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(Error::Usage(message)) => {
            eprintln!("warren-bench: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("warren-bench: {e}");
            let mut j = report::header(o);
            j.bool("ok", false).str("error", &e.to_string());
            println!("{}", j.finish());
            ExitCode::FAILURE
        }
    }
}

async fn serve_sink(port: u16) -> ExitCode {
    let sink = match sink::start(port).await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("warren-bench: sink cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("warren-bench sink listening: {}", sink.url());
    wait_for_signal().await;
    sink.stop();
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
