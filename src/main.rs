//! The credpush binary: parse, set up logging and the runtime, run, map the result to an exit code.

use std::io::IsTerminal;

use clap::Parser;
use credpush::cli::Cli;

fn main() {
    // Before anything else holds a secret: the commands ssh runs for an inventory (ProxyCommand, Match exec) run
    // as this user, and could otherwise read this process's environment (the caller's AWS keys) and memory (the
    // documents) through /proc/PID/environ, /proc/PID/mem or ptrace. A process that is not dumpable has its
    // /proc files owned by root and refuses ptrace; its children are dumpable again from their own exec. On a
    // kernel without prctl the run goes on, no worse off than before.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    // The same binary is the Lambda function (src/lambda): the Lambda service sets this variable for its runtime.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        init_logging(0);
        std::process::exit(credpush::lambda::serve());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => usage_error(err),
    };
    // credential_process runs `read` before every refresh: no runtime, no logging, just the file.
    if let credpush::cli::Command::Read(cmd) = &cli.command {
        std::process::exit(credpush::host::read::run(&cmd.path));
    }
    init_logging(cli.verbose);
    let code = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => match rt.block_on(credpush::cli::run(cli)) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("credpush: error: {}", credpush::term::escape(&err.to_string()));
                err.exit_code()
            }
        },
        Err(err) => {
            eprintln!("credpush: error: could not start the async runtime: {err}");
            credpush::error::EXIT_IO
        }
    };
    std::process::exit(code);
}

/// `--help` and `--version` print as clap prints them; every bad invocation becomes one `credpush: error:` line
/// (clap's own text is several lines with usage, which a log or a CI summary shows badly) and exit 2.
fn usage_error(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        err.exit();
    }
    eprintln!("credpush: error: {}", credpush::term::escape(&credpush::cli::usage_line(&err)));
    std::process::exit(credpush::error::EXIT_INPUT);
}

/// Verbosity applies to credpush's own events only. The AWS SDK stays at `warn` at every verbosity, because its
/// debug and trace events describe requests and signing in detail that credpush does not control.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // The HTTP client's own warning about an answer that is not HTTP repeats, in hyper's debug words, what
    // credpush's error line says; errors from it still show.
    let filter = tracing_subscriber::EnvFilter::new(format!("warn,aws_smithy_http_client=error,credpush={level}"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
