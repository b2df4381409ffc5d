//! The `cyberapp-tenants` binary: parse the command line, set up logging (and traces), run the subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use cyberapp_tenants::app::{App, shutdown_on_signals};
use cyberapp_tenants::config::{Cli, Command, DevCommand, DirectoryCommand};
use cyberapp_tenants::db::migration::Migrator;
use cyberapp_tenants::gateway::devmode;
use cyberapp_tenants::tenant::TenantStore;
use cyberapp_tenants::tenant::directory_file;
use cyberapp_tenants::{db, telemetry};
use sea_orm_migration::MigratorTrait as _;

/// jemalloc rather than the C library's allocator: a hot read makes about a hundred small allocations, and
/// glibc's `malloc` and `free` took about a seventh of the service's CPU under W1. With jemalloc W1 and W2
/// ran 15–35% faster, and idle RSS stays under 20 MiB (docs/performance.md, "jemalloc, …").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Before anything signs or checks a token (jsonwebtoken's first use fixes its crypto for the process).
    cyberapp_tenants::gateway::jwt_crypto::install();
    let cli = Cli::parse();
    let telemetry = match telemetry::init(cli.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    // The service reports through its structured log; the one-shot commands talk to a person.
    let serving = matches!(cli.command, Command::Serve(_));
    let outcome = run(cli.command).await;
    // The spans of the last requests (a drained shutdown's included) still go out.
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if serving => {
            tracing::error!(error = format!("{error:#}"), "exiting");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            // Listen for signals before start-up, so that a SIGTERM during migrations still ends cleanly.
            let shutdown = shutdown_on_signals()?;
            let app = tokio::select! {
                app = App::build(&args) => app?,
                () = shutdown.cancelled() => {
                    tracing::info!("shutdown requested during start-up");
                    return Ok(());
                }
            };
            app.run(shutdown).await
        }
        Command::Migrate(args) => {
            let db = db::connect(&args.database_url).await?;
            Migrator::up(&db, None).await?;
            tracing::info!("database schema is current");
            Ok(())
        }
        Command::Directory { command: DirectoryCommand::Import(args) } => {
            let db = db::connect(&args.database.database_url).await?;
            Migrator::up(&db, None).await?;
            let summary = directory_file::import(&TenantStore::new(db), &args.file).await?;
            println!(
                "imported {}: {} organization(s) and {} credential(s) changed",
                args.file.display(),
                summary.organizations_changed,
                summary.credentials_changed
            );
            Ok(())
        }
        Command::Dev { command: DevCommand::Token(args) } => {
            println!("{}", devmode::token(&args)?);
            Ok(())
        }
    }
}
