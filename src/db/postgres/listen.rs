//! Waking the workers of every replica when a job is queued: each commit that queued one sends
//! a NOTIFY, and one connection per replica, outside the pool (a pool's recycling would run
//! `UNLISTEN *`), listens. Notifications sent while it reconnects are lost, so workers still
//! poll; after each reconnect they are woken once to catch up.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::AsyncMessage;

use super::connect::{Settings, tls};
use crate::db::DbError;

/// The channel jobs are announced on.
pub const CHANNEL: &str = "confvault_jobs";

/// Listens until the task is aborted, reconnecting after a pause whenever the connection drops.
pub async fn run(settings: Settings, wake: Arc<Notify>) {
    let mut pause = Duration::from_millis(200);
    loop {
        match listen(&settings, &wake).await {
            Ok(()) => tracing::info!("job notifications: connection closed; reconnecting"),
            Err(e) => {
                tracing::warn!(error = %e, "job notifications: connection lost; workers poll until it is back")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

async fn listen(settings: &Settings, wake: &Notify) -> Result<(), DbError> {
    let (client, mut connection) = settings
        .driver_config()
        .connect(tls(&settings.url)?)
        .await?;
    let (notes, mut heard) = mpsc::unbounded_channel();
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let driver = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if notes.send(()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::debug!("job notifications: listening");
    // Whatever was queued while no one listened.
    wake.notify_one();
    let mut driver = tokio_util::task::AbortOnDropHandle::new(driver);
    loop {
        tokio::select! {
            note = heard.recv() => match note {
                Some(()) => wake.notify_one(),
                None => break,
            },
            ended = &mut driver => {
                return match ended {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(DbError::Panicked),
                };
            }
        }
    }
    drop(client);
    Ok(())
}
