//! One file per verb.

use std::process::ExitCode;

use clap::{ArgMatches, Args, FromArgMatches, Subcommand};

use crate::settings::GlobalFlags;

mod attach;
mod build;
mod compose;
mod container;
mod create;
mod daemon;
mod dashboard;
mod events;
mod image;
mod images;
mod info;
mod inspect;
mod kill;
mod load;
mod login;
mod logout;
mod logs;
mod new;
mod pause;
mod port;
mod ps;
mod pull;
mod push;
mod rename;
mod restart;
mod rm;
mod rmi;
mod run;
mod save;
pub mod serve;
mod start;
mod stats;
mod stop;
mod system;
mod tag;
mod unsupported;
mod update;
mod version;
mod wait;

pub(crate) use run::looks_like_file;

/// The verbs. Each verb's flags are added to clap's command only when that verb is the one
/// parsed ([`Deferred`]): building every verb's flags was a tenth of a `skiff run`'s start.
#[derive(Debug, Subcommand)]
pub enum Command {
    // Boxed: their flags (grants, limits, HTTP limits, health check) make them larger than any
    // other verb by far (clippy's large_enum_variant). Not a doc comment: that would be its help.
    Run(Deferred<Box<run::Run>>),
    Create(Deferred<create::Create>),
    Serve(Deferred<Box<serve::Serve>>),
    Ps(Deferred<ps::Ps>),
    Port(Deferred<port::Port>),
    Logs(Deferred<logs::Logs>),
    Attach(Deferred<attach::Attach>),
    Stats(Deferred<stats::Stats>),
    Stop(Deferred<stop::Stop>),
    Kill(Deferred<kill::Kill>),
    Pause(Deferred<pause::Pause>),
    Unpause(Deferred<pause::Unpause>),
    Wait(Deferred<wait::Wait>),
    Start(Deferred<start::Start>),
    Restart(Deferred<restart::Restart>),
    Update(Deferred<update::Update>),
    Rename(Deferred<rename::Rename>),
    Rm(Deferred<rm::Rm>),
    Events(Deferred<events::Events>),
    Build(Deferred<build::Build>),
    New(Deferred<new::New>),
    Images(Deferred<images::Images>),
    Inspect(Deferred<inspect::Inspect>),
    Tag(Deferred<tag::Tag>),
    Login(Deferred<login::Login>),
    Logout(Deferred<logout::Logout>),
    Push(Deferred<push::Push>),
    Pull(Deferred<pull::Pull>),
    Rmi(Deferred<rmi::Rmi>),
    Image(Group<image::Image>),
    Container(Group<container::Container>),
    Save(Deferred<save::Save>),
    Load(Deferred<load::Load>),
    Daemon(Deferred<daemon::Daemon>),
    Compose(Deferred<compose::Compose>),
    Info(Deferred<info::Info>),
    Version(Deferred<version::Version>),
    Dashboard(Deferred<dashboard::Dashboard>),
    System(Group<system::System>),
    #[command(hide = true)]
    Exec(unsupported::Unsupported),
    #[command(hide = true)]
    Cp(unsupported::Unsupported),
    #[command(hide = true)]
    Top(unsupported::Unsupported),
    #[command(hide = true)]
    Commit(unsupported::Unsupported),
    #[command(hide = true)]
    Export(unsupported::Unsupported),
    #[command(hide = true)]
    Diff(unsupported::Unsupported),
}

/// A verb's flags, built by clap only once it needs them: when that verb is parsed, or for help
/// that lists every verb ([`expand_for`]).
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// A verb's own verbs (`skiff image ls`), added by clap only once it needs them, as [`Deferred`]
/// adds a verb's flags.
#[derive(Debug)]
pub struct Group<T>(pub T);

impl<T: Subcommand> Args for Group<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| {
            T::augment_subcommands(cmd)
                .subcommand_required(true)
                .arg_required_else_help(true)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| {
            T::augment_subcommands_for_update(cmd)
                .subcommand_required(true)
                .arg_required_else_help(true)
        })
    }
}

/// `Deferred` and `Group` are read from the matches as what they wrap.
macro_rules! from_arg_matches_as_inner {
    ($($wrapper:ident),*) => {$(
        impl<T: FromArgMatches> FromArgMatches for $wrapper<T> {
            fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
                T::from_arg_matches(matches).map($wrapper)
            }

            fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
                T::from_arg_matches_mut(matches).map($wrapper)
            }

            fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
                self.0.update_from_arg_matches(matches)
            }

            fn update_from_arg_matches_mut(
                &mut self,
                matches: &mut ArgMatches,
            ) -> Result<(), clap::Error> {
                self.0.update_from_arg_matches_mut(matches)
            }
        }
    )*};
}

from_arg_matches_as_inner!(Deferred, Group);

/// Builds every verb's flags unless `args` name a verb: the help and the errors that list the
/// verbs (`skiff`, `skiff --help`, `skiff help`, a mistyped verb) show each one's summary, which
/// is part of its deferred flags.
pub fn expand_for(cmd: &mut clap::Command, args: &[std::ffi::OsString]) {
    let names_a_verb = args.iter().skip(1).any(|arg| {
        arg.to_str().is_some_and(|arg| {
            arg != "help" && cmd.get_subcommands().any(|verb| verb.get_name() == arg)
        })
    });
    if !names_a_verb {
        for verb in cmd.get_subcommands_mut() {
            verb.build();
        }
    }
}

/// How a verb wants Skiff's own diagnostics written, decided before logging starts.
pub struct Logging {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// The filter when `SKIFF_LOG` is unset.
    pub default_level: &'static str,
    /// Whether text lines carry the time (a long-running process wants it; a command does not).
    pub timestamps: bool,
    /// None at all (`-D logging=n`, as `wasmtime run` takes it).
    pub off: bool,
}

impl Command {
    pub fn logging(&self) -> Logging {
        match self {
            Command::Daemon(c) => c.0.logging(),
            _ => Logging {
                json: false,
                default_level: "warn",
                timestamps: false,
                off: match self {
                    Command::Run(c) => c.0.wasmtime.logging_off(),
                    Command::Container(c) => c.0.logging_off(),
                    Command::Serve(c) => c.0.wasmtime.logging_off(),
                    _ => false,
                },
            },
        }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(c) => (*c.0).execute(global),
            Command::Create(c) => c.0.execute(global),
            Command::Serve(c) => (*c.0).execute(global),
            Command::Info(c) => c.0.execute(global),
            Command::Kill(c) => c.0.execute(global),
            Command::Pause(c) => c.0.execute(global, true),
            Command::Unpause(c) => c.0.execute(global),
            Command::Wait(c) => c.0.execute(global),
            Command::Version(c) => c.0.execute(global),
            Command::Dashboard(c) => c.0.execute(global),
            Command::Ps(c) => c.0.execute(global),
            Command::Port(c) => c.0.execute(global),
            Command::Logs(c) => c.0.execute(global),
            Command::Attach(c) => c.0.execute(global),
            Command::Stats(c) => c.0.execute(global),
            Command::Stop(c) => c.0.execute(global),
            Command::Start(c) => c.0.execute(global),
            Command::Restart(c) => c.0.execute(global),
            Command::Update(c) => c.0.execute(global),
            Command::Rename(c) => c.0.execute(global),
            Command::Rm(c) => c.0.execute(global),
            Command::Events(c) => c.0.execute(global),
            Command::Build(c) => c.0.execute(global),
            Command::New(c) => c.0.execute(global),
            Command::Images(c) => c.0.execute(global),
            Command::Inspect(c) => c.0.execute(global),
            Command::Tag(c) => c.0.execute(global),
            Command::Login(c) => c.0.execute(global),
            Command::Logout(c) => c.0.execute(global),
            Command::Push(c) => c.0.execute(global),
            Command::Pull(c) => c.0.execute(global),
            Command::Rmi(c) => c.0.execute(global),
            Command::Image(c) => c.0.execute(global),
            Command::Container(c) => c.0.execute(global),
            Command::Save(c) => c.0.execute(global),
            Command::Load(c) => c.0.execute(global),
            Command::Daemon(c) => c.0.execute(global),
            Command::Compose(c) => c.0.execute(global),
            Command::System(c) => c.0.execute(global),
            Command::Exec(c) => c.refuse("exec"),
            Command::Cp(c) => c.refuse("cp"),
            Command::Top(c) => c.refuse("top"),
            Command::Commit(c) => c.refuse("commit"),
            Command::Export(c) => c.refuse("export"),
            Command::Diff(c) => c.refuse("diff"),
        }
    }
}

/// Runs `action` on each named app, as `docker stop a b c` does: a failure is reported and the
/// rest still go; the exit status is 125 if any failed.
fn each_app(
    names: &[String],
    mut action: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            // Without a daemon every other name would fail the same way.
            Err(error) if no_daemon(&error) => return Err(error),
            Err(error) => {
                crate::errors::report(&error);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(crate::errors::EXIT_SKIFF_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn no_daemon(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<skiff_api::ClientError>(),
            Some(skiff_api::ClientError::NoDaemon { .. })
        )
    })
}
