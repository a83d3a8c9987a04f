//! [`ZooKeeper`] runs a real standalone ZooKeeper server (Debian's `zookeeperd` 3.8) for one test.
//!
//! - The server is `org.apache.zookeeper.server.ZooKeeperServerMain` from
//!   `/usr/share/java/zookeeper.jar` (its manifest brings the dependencies), run by `java` in the
//!   foreground as a child process — never the system service. `scripts/test.sh` installs the
//!   package when it is missing.
//! - Each server gets its own temporary data folder and a free client port on 127.0.0.1, with the
//!   admin server off and the four-letter words on (the harness waits for `ruok` → `imok`).
//! - [`ZooKeeper::stop`] and [`ZooKeeper::restart`] keep the port and the data folder, so that
//!   clients reconnect to the same server with their sessions and data; the process is killed
//!   when the value is dropped.

use std::{
    fs,
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long a server may take to answer `ruok` after it was started.
const START_LIMIT: Duration = Duration::from_secs(60);

/// Where Debian puts the server's jar.
const JAR_CANDIDATES: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/zookeeper/zookeeper.jar",
];

/// A running ZooKeeper server on `127.0.0.1:<port>`.
pub struct ZooKeeper {
    port: u16,
    home: tempfile::TempDir,
    child: Option<Child>,
}

impl ZooKeeper {
    /// Starts a server with a fresh data folder and a free port; returns once it answers.
    pub fn start() -> Result<Self> {
        let home = tempfile::Builder::new()
            .prefix("strom-zookeeper-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data = home.path().join("data");
        fs::create_dir_all(&data)?;
        // A short tick keeps session expiry in tests within seconds (min session = 2 ticks).
        let config = format!(
            "tickTime=500\n\
             dataDir={}\n\
             clientPort={port}\n\
             clientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\n\
             minSessionTimeout=1000\n\
             maxSessionTimeout=60000\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n",
            data.display()
        );
        fs::write(home.path().join("zoo.cfg"), config)?;
        let mut zookeeper = Self {
            port,
            home,
            child: None,
        };
        zookeeper.spawn()?;
        Ok(zookeeper)
    }

    /// `127.0.0.1:<port>`, the client connect string.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running (it may not answer yet).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server (as a crash would); the data folder and port stay for [`Self::restart`].
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child
                .wait()
                .context("waiting for the zookeeper server to exit")?;
        }
        Ok(())
    }

    /// Stops the server if it runs and starts it again on the same port and data folder.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// The sessions holding ephemeral nodes and their nodes (the `dump` four-letter word), e.g.
    /// `0x100005d2a410000` → `["/strom/c/leader/_c_..-latch-0000000000"]`.
    pub fn ephemerals(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let dump = four_letter_word(self.port, "dump")?;
        let mut sessions = std::collections::BTreeMap::<String, Vec<String>>::new();
        let mut current = None;
        let listing = dump
            .split_once("Sessions with Ephemerals")
            .map_or("", |(_, rest)| rest);
        for line in listing.lines().skip(1) {
            let line = line.trim();
            if let Some(session) = line.strip_suffix(':').filter(|s| s.starts_with("0x")) {
                current = Some(session.to_owned());
                sessions.entry(session.to_owned()).or_default();
            } else if line.starts_with('/')
                && let Some(session) = &current
            {
                sessions
                    .entry(session.clone())
                    .or_default()
                    .push(line.to_owned());
            }
        }
        Ok(sessions)
    }

    /// The ids (`0x...`) of the sessions with a live connection to the server (`cons`).
    pub fn connected_sessions(&self) -> Result<Vec<String>> {
        let cons = four_letter_word(self.port, "cons")?;
        Ok(cons
            .split("sid=")
            .skip(1)
            .filter_map(|rest| rest.split([',', ')']).next())
            .map(str::to_owned)
            .collect())
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.home.path().join("zookeeper.log")
    }

    fn spawn(&mut self) -> Result<()> {
        let jar = JAR_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|jar| jar.is_file())
            .with_context(|| {
                format!(
                    "no zookeeper jar at {JAR_CANDIDATES:?}: install Debian's zookeeperd \
                     (`apt-get install -y --no-install-recommends zookeeperd`, scripts/test.sh does)"
                )
            })?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new("java")
            .arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg(format!(
                "-Dzookeeper.log.dir={}",
                self.home.path().display()
            ))
            .arg("-cp")
            .arg(format!("/etc/zookeeper/conf:{}", jar.display()))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.home.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting java (is a JRE installed? zookeeperd depends on one)")?;
        self.child = Some(child);
        self.wait_until_serving()
    }

    fn wait_until_serving(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "zookeeper server exited with {status} while starting:\n{}",
                    self.log()
                );
            }
            if four_letter_word(self.port, "ruok").is_ok_and(|answer| answer == "imok") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "zookeeper server on port {} did not answer ruok within {START_LIMIT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            // The server gives no readiness signal other than answering; poll it.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("stopping zookeeper: {err:#}");
        }
    }
}

/// Sends a four-letter word (`ruok`, `srvr`, `cons`) and returns the answer.
fn four_letter_word(port: u16, word: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(word.as_bytes())?;
    stream.shutdown(Shutdown::Write).ok();
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}
