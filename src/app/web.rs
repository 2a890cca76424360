//! `--web`: the classroom view's server around a command's run.

use std::sync::Arc;

use crate::cli::WebArgs;
use crate::web::hub::Hub;
use crate::web::page::PageConfig;
use crate::web::server::Server;

/// The server, started before the run and ended after it.
pub(super) struct Web {
    server: Server,
    keep: bool,
}

/// Start the view when `--web` was given. With `wait` (a demo, a replay:
/// runs that would be over before anyone looked), return only once a
/// browser has opened the page.
pub(super) fn start(args: &WebArgs, quiz: bool, wait: bool) -> anyhow::Result<Option<Web>> {
    let Some(addr) = args.web else {
        return Ok(None);
    };
    let server = Server::start(
        addr,
        PageConfig {
            quiz,
            ..PageConfig::default()
        },
    )?;
    eprintln!("wirelab: classroom view at {}", server.url());
    if wait {
        eprintln!("wirelab: waiting for a browser to open it (Ctrl-C gives up)");
        server.hub().wait_for_viewer();
    }
    Ok(Some(Web {
        server,
        keep: args.web_keep,
    }))
}

impl Web {
    pub(super) fn hub(&self) -> &Arc<Hub> {
        self.server.hub()
    }

    /// The run ended: the page hears so, and the server ends once every
    /// browser has the whole run (or, with `--web-keep`, at Ctrl-C).
    pub(super) fn finish(self) -> anyhow::Result<()> {
        crate::web::bye(self.hub());
        self.server.finish(self.keep)
    }
}

/// `web`'s hub, for the pipeline.
pub(super) fn hub(web: &Option<Web>) -> Option<Arc<Hub>> {
    web.as_ref().map(|w| Arc::clone(w.hub()))
}
