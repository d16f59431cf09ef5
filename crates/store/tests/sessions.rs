//! Password logins and web sessions on both backends: a session opens with the right password
//! only, ends at logout, after idle time, at a new password and at the rep's deactivation; five
//! wrong passwords within 15 minutes lock the account for 15 minutes, and every attempt is kept.

use allot_core::access::Principal;
use allot_core::Clock;
use allot_store::sessions::{LoginRefusal, SESSION_IDLE};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use chrono::Duration;

mod common;
use common::*;

const PASSWORD: &str = "correct horse battery";

fn minutes_after(clock: Clock, minutes: i64) -> Clock {
    Clock::at(clock.now() + Duration::minutes(minutes))
}

async fn logins_sessions_and_lockout(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, "").await;
    let start = day(0);
    let r1 = rep_id("r1");

    // No password yet, an unknown rep, a short password: refused alike or named.
    assert_eq!(
        store
            .log_in(&r1, PASSWORD, None, start)
            .await
            .expect("log in")
            .err(),
        Some(LoginRefusal::WrongCredentials)
    );
    match store.set_password(&r1, "short", start).await {
        Err(StoreError::Invalid(error)) => assert_eq!(error.field, "password"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        store.set_password(&rep_id("nobody"), PASSWORD, start).await,
        Err(StoreError::NotFound { .. })
    ));
    store.set_password(&r1, PASSWORD, start).await.expect("set");

    // The right password opens a session that acts as r1 and carries a CSRF token.
    let session = store
        .log_in(&r1, PASSWORD, Some("10.0.0.7"), start)
        .await
        .expect("log in")
        .expect("accepted");
    let holder = store
        .session(&session.token, start)
        .await
        .expect("session")
        .expect("open");
    assert_eq!(holder.principal, Principal::Rep { rep: r1.clone() });
    assert_eq!(holder.csrf_token, session.csrf_token);
    assert!(store
        .session("not a session", start)
        .await
        .expect("lookup")
        .is_none());

    // Used within the idle time it stays open; left idle longer, it has ended.
    let later = minutes_after(start, 60);
    assert!(store
        .session(&session.token, later)
        .await
        .expect("lookup")
        .is_some());
    let idle = Clock::at(later.now() + SESSION_IDLE + Duration::minutes(1));
    assert!(store
        .session(&session.token, idle)
        .await
        .expect("lookup")
        .is_none());

    // Logout ends it; a new password ends every other.
    let first = store
        .log_in(&r1, PASSWORD, None, start)
        .await
        .unwrap()
        .unwrap();
    let second = store
        .log_in(&r1, PASSWORD, None, start)
        .await
        .unwrap()
        .unwrap();
    store.log_out(&first.token, start).await.expect("log out");
    assert!(store.session(&first.token, start).await.unwrap().is_none());
    assert!(store.session(&second.token, start).await.unwrap().is_some());
    store
        .set_password(&r1, "another good password", start)
        .await
        .expect("new password");
    assert!(store.session(&second.token, start).await.unwrap().is_none());
    assert!(store
        .log_in(&r1, PASSWORD, None, start)
        .await
        .unwrap()
        .is_err());

    // Five wrong passwords within 15 minutes lock the account, even for the right one, for 15
    // minutes after the fifth.
    // (The failure above is more than 15 minutes before these.)
    let start = minutes_after(start, 30);
    store.set_password(&r1, PASSWORD, start).await.expect("set");
    for minute in 0..4 {
        assert_eq!(
            store
                .log_in(&r1, "wrong password!", None, minutes_after(start, minute))
                .await
                .unwrap()
                .err(),
            Some(LoginRefusal::WrongCredentials)
        );
    }
    let fifth = minutes_after(start, 4);
    assert_eq!(
        store
            .log_in(&r1, "wrong password!", None, fifth)
            .await
            .unwrap()
            .err(),
        Some(LoginRefusal::Locked {
            until: fifth.now() + Duration::minutes(15)
        })
    );
    assert!(matches!(
        store
            .log_in(&r1, PASSWORD, None, minutes_after(start, 18))
            .await
            .unwrap(),
        Err(LoginRefusal::Locked { .. })
    ));
    let unlocked = store
        .log_in(&r1, PASSWORD, None, minutes_after(start, 20))
        .await
        .unwrap()
        .expect("unlocked 15 minutes after the fifth failure");

    // Deactivation ends the rep's sessions at once.
    let admin = Principal::Admin {
        token_id: "test".to_string(),
    };
    store
        .deactivate_rep(&admin, &r1, Some(&rep_id("r2")), minutes_after(start, 21))
        .await
        .expect("deactivate");
    assert!(store
        .session(&unlocked.token, minutes_after(start, 22))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .log_in(&r1, PASSWORD, None, minutes_after(start, 22))
            .await
            .unwrap()
            .err(),
        Some(LoginRefusal::WrongCredentials)
    );
}

test_on_both_backends! {
    logins_sessions_and_lockout => super::logins_sessions_and_lockout;
}
