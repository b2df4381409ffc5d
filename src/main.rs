//! The `cyberapp-tenants` binary: parse the command line, set up logging, run the subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use cyberapp_tenants::app::{App, shutdown_on_signals};
use cyberapp_tenants::config::{Cli, Command, DevCommand};
use cyberapp_tenants::db::migration::Migrator;
use cyberapp_tenants::{db, devmode, telemetry};
use sea_orm_migration::MigratorTrait as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exiting");
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
        Command::Dev { command: DevCommand::Token(args) } => {
            println!("{}", devmode::token(&args)?);
            Ok(())
        }
    }
}
