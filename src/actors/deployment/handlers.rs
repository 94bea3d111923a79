//! The DeploymentActor's handlers: each hands its input to a step, or records what it
//! was told.

use actix::prelude::*;

use super::*;

impl Actor for DeploymentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.take_up(ctx);
    }
}

impl Handler<UpdateSpec> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateSpec, ctx: &mut Context<Self>) {
        let policy = match Self::policy_for(&msg.deployment, &msg.source) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(deployment = %self.name(), "the new spec is not complete ({e}); keeping the last one");
                return;
            }
        };
        let defaults_changed = msg
            .defaults_only
            .then(|| crate::defaults::changed_fields(&self.deployment.spec, &msg.deployment.spec));
        // A file that comes back cancels a wind-down.
        self.removing = None;
        self.told_ready = false;
        self.policy = policy;
        self.deployment = msg.deployment;
        self.source = Source::of(msg.source);
        let input = match defaults_changed {
            Some(fields) => Input::DefaultsChanged { fields },
            None => Input::Reconcile,
        };
        self.step(input, ctx);
    }
}

impl Handler<Remove> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, msg: Remove, ctx: &mut Context<Self>) {
        if self.removing.is_some() {
            return;
        }
        self.policy = self.policy.removed(msg.state, &self.source.written_json);
        self.removing = Some(msg.state);
        tracing::warn!(deployment = %self.name(), "its file is gone: winding it down to {}", msg.state);
        self.step(Input::Reconcile, ctx);
    }
}

impl Handler<Step> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, Step(input): Step, ctx: &mut Context<Self>) {
        self.step(input, ctx);
    }
}

impl Handler<ConfigChanged> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, _: ConfigChanged, ctx: &mut Context<Self>) {
        for job in self.job_actors.values() {
            job.do_send(Command::Reschedule);
        }
        self.step(Input::Reconcile, ctx);
    }
}

impl Handler<FileProblems> for DeploymentActor {
    type Result = ();

    /// On record with the status (`flinkd get`), and as an event when it is new.
    fn handle(&mut self, FileProblems(problems): FileProblems, ctx: &mut Context<Self>) {
        if problems == self.problems {
            return;
        }
        self.problems = problems;
        let at = now();
        let event = (!self.problems.is_empty()).then(|| {
            self.event(
                EventName::SpecRejected,
                EventLevel::Error,
                None,
                format!(
                    "its file is not valid; the Deployment goes on with its last valid spec: {}",
                    self.problems.join("; ")
                ),
                at,
            )
        });
        let (id, status) = (self.id, self.status());
        let write = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                s.put_status(id, &status, at)?;
                if let Some(e) = &event {
                    s.append_event(e)?;
                }
                Ok(())
            })
        }));
        ctx.wait(actix::fut::wrap_future::<_, Self>(write).map(|r, act, _| {
            if !matches!(r, Ok(Ok(()))) {
                tracing::error!(deployment = %act.name(), "cannot record the file's problems");
            }
        }));
    }
}

impl Handler<Forget> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, _: Forget, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<RequestSavepoint> for DeploymentActor {
    type Result = ResponseFuture<Result<Savepoint, SavepointRefused>>;

    fn handle(&mut self, _: RequestSavepoint, ctx: &mut Context<Self>) -> Self::Result {
        if !self.lifecycle.takes_user_savepoints() {
            let why = format!(
                "{} is {}: a savepoint is taken of a RUNNING job, with no other operation under way",
                self.name(),
                self.lifecycle.status
            );
            return Box::pin(async move { Err(SavepointRefused::NotNow(why)) });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.step_then(Input::UserSavepoint, ctx, move |act, written| {
            let answer = written
                .map_err(|e| SavepointRefused::Internal(e.to_string()))
                .and_then(|()| match &act.lifecycle.phase {
                    Phase::UserSavepointing { savepoint, .. } => act
                        .records
                        .savepoint(*savepoint)
                        .cloned()
                        .ok_or_else(|| SavepointRefused::Internal("no record".into())),
                    _ => Err(SavepointRefused::NotNow(
                        "the savepoint was not started".into(),
                    )),
                });
            let _ = tx.send(answer);
        });
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(SavepointRefused::Internal("the Deployment stopped".into()))
            })
        })
    }
}

impl Handler<ImportSavepoint> for DeploymentActor {
    type Result = ResponseFuture<Result<Savepoint, SavepointRefused>>;

    fn handle(&mut self, msg: ImportSavepoint, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let location = msg.location.trim().to_string();
        let input = Input::SavepointImported {
            location: location.clone(),
        };
        let me = ctx.address();
        self.step_then(input, ctx, move |act, written| {
            // Settled now that the import is among the records.
            me.do_send(Step(Input::Reconcile));
            let same = |l: &str| l.trim_end_matches('/') == location.trim_end_matches('/');
            let answer = written
                .map_err(|e| SavepointRefused::Internal(e.to_string()))
                .and_then(|()| {
                    act.records
                        .savepoints
                        .iter()
                        .rev()
                        .find(|s| s.location.as_deref().is_some_and(same))
                        .cloned()
                        .ok_or_else(|| {
                            SavepointRefused::NotNow(format!("`{location}` was not imported"))
                        })
                });
            let _ = tx.send(answer);
        });
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(SavepointRefused::Internal("the Deployment stopped".into()))
            })
        })
    }
}

impl Handler<JobReport> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, JobReport(input): JobReport, ctx: &mut Context<Self>) {
        if let Input::TornDown { job } = &input {
            self.job_actors.remove(job);
        }
        self.step(input, ctx);
    }
}
