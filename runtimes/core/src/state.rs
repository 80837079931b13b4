//! Container lifecycle as an explicit state machine (youki's
//! `ContainerStatus`, runwasi's `TaskState`): every transition goes through a
//! method that refuses illegal moves, so no runtime can invent its own rules.

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// Where a container is in its life (CRI's `ContainerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Its process (or service) is running.
    Running,
    /// It ran and has exited (or was killed).
    Exited,
}

impl ContainerState {
    /// A created container may start once.
    pub fn can_start(self) -> bool {
        self == ContainerState::Created
    }

    /// Stopping is meaningful for a running container; stopping one that
    /// never ran or already exited is a no-op (CRI allows both).
    pub fn can_stop(self) -> bool {
        self == ContainerState::Running
    }

    /// `Created → Running`, or a precondition error naming the container.
    pub fn start(self, id: &str) -> Result<ContainerState, RuntimeError> {
        self.transition(id, "start", self.can_start(), ContainerState::Running)
    }

    /// `Running → Exited` (a container that never started may also be marked
    /// exited when its sandbox is torn down).
    pub fn exit(self, id: &str) -> Result<ContainerState, RuntimeError> {
        self.transition(
            id,
            "mark exited",
            self != ContainerState::Exited,
            ContainerState::Exited,
        )
    }

    fn transition(
        self,
        id: &str,
        action: &'static str,
        allowed: bool,
        to: ContainerState,
    ) -> Result<ContainerState, RuntimeError> {
        if allowed {
            Ok(to)
        } else {
            Err(RuntimeError::InvalidState {
                kind: "container",
                id: id.to_owned(),
                action,
                state: self.to_string(),
            })
        }
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
        })
    }
}

/// Why a container exited: the `reason` Kubernetes shows in
/// `ContainerStateTerminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    /// Exit code 0.
    Completed,
    /// Non-zero exit, a trap, or a kill.
    Error,
    /// Killed for exceeding its memory limit.
    #[serde(rename = "OOMKilled")]
    OomKilled,
    /// Could not be started at all (the process never ran).
    ContainerCannotRun,
}

impl ExitReason {
    /// The reason for a plain exit with this code.
    pub fn from_exit_code(code: i32) -> Self {
        if code == 0 {
            ExitReason::Completed
        } else {
            ExitReason::Error
        }
    }

    /// The string Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
            ExitReason::ContainerCannotRun => "ContainerCannotRun",
        }
    }
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_moves() {
        let s = ContainerState::Created.start("c").unwrap();
        assert_eq!(s, ContainerState::Running);
        assert_eq!(s.exit("c").unwrap(), ContainerState::Exited);
        assert_eq!(
            ContainerState::Created.exit("c").unwrap(),
            ContainerState::Exited
        );
    }

    #[test]
    fn illegal_moves_are_refused_with_context() {
        let err = ContainerState::Running.start("c1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot start container \"c1\": it is running"
        );
        assert!(ContainerState::Exited.start("c").is_err());
        assert!(ContainerState::Exited.exit("c").is_err());
        assert!(!ContainerState::Exited.can_stop());
    }

    #[test]
    fn reasons() {
        assert_eq!(ExitReason::from_exit_code(0).as_str(), "Completed");
        assert_eq!(ExitReason::from_exit_code(3).as_str(), "Error");
        assert_eq!(ExitReason::OomKilled.to_string(), "OOMKilled");
    }
}
