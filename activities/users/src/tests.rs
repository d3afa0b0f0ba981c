//! Profiles and address books against a real database.

use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, AddressFields, Error, Preferences, ProfileChanges};
use souk_kit::Ctx;
use souk_kit::testing::test_schema;

fn home(name: &str) -> AddressFields {
    AddressFields {
        label: Some("Home".into()),
        name: name.into(),
        line1: "1 Main St".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "us".into(),
        phone: Some("+1 (555) 010-0000".into()),
    }
}

#[sqlx::test(migrations = false)]
async fn profiles_are_checked_and_kept_per_field(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let (ctx, u) = (Ctx::new("test"), Uuid::new_v4());
    let empty = store::profile(&pool, u).await.unwrap();
    assert_eq!((empty.name, empty.phone), (None, None));
    let p = store::update_profile(
        &pool,
        &ctx,
        u,
        &ProfileChanges {
            name: Some(" Ann Lee ".into()),
            phone: Some("+44 20 7123 4567".into()),
            preferences: Some(Preferences {
                locale: Some("en-GB".into()),
                currency: Some("gbp".into()),
                marketing_emails: Some(false),
            }),
        },
    )
    .await
    .unwrap();
    assert_eq!(p.name.as_deref(), Some("Ann Lee"));
    assert_eq!(p.phone.as_deref(), Some("+442071234567"));
    assert_eq!(p.preferences.currency.as_deref(), Some("GBP"));
    // Absent fields stay, empty ones clear.
    let p = store::update_profile(
        &pool,
        &ctx,
        u,
        &ProfileChanges {
            phone: Some(String::new()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((p.name.as_deref(), p.phone), (Some("Ann Lee"), None));
    for bad in [
        ProfileChanges {
            phone: Some("12345".into()),
            ..Default::default()
        },
        ProfileChanges {
            name: Some("x".repeat(101)),
            ..Default::default()
        },
        ProfileChanges {
            preferences: Some(Preferences {
                currency: Some("XXX1".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            store::update_profile(&pool, &ctx, u, &bad).await,
            Err(Error::Invalid { .. })
        ));
    }
}

#[sqlx::test(migrations = false)]
async fn an_address_book_has_one_default_and_belongs_to_its_user(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let (ctx, u, other) = (Ctx::new("test"), Uuid::new_v4(), Uuid::new_v4());
    let first = store::create_address(&pool, &ctx, u, &home("Ann"), false)
        .await
        .unwrap();
    assert!(first.is_default, "the first address is the default");
    assert_eq!(first.fields.country, "US");
    assert_eq!(first.fields.phone.as_deref(), Some("+15550100000"));
    let second = store::create_address(&pool, &ctx, u, &home("Ann at work"), true)
        .await
        .unwrap();
    let book = store::addresses(&pool, u).await.unwrap();
    assert_eq!(book.iter().filter(|a| a.is_default).count(), 1);
    assert_eq!(book[0].id, second.id);
    // Another user's address is not found, for reading, changing or deleting.
    assert!(matches!(
        store::address(&pool, other, first.id).await,
        Err(Error::AddressNotFound)
    ));
    assert!(matches!(
        store::update_address(&pool, &ctx, other, first.id, None, true).await,
        Err(Error::AddressNotFound)
    ));
    assert!(matches!(
        store::delete_address(&pool, &ctx, other, first.id).await,
        Err(Error::AddressNotFound)
    ));
    // Deleting the default promotes the newest remaining one.
    store::delete_address(&pool, &ctx, u, second.id)
        .await
        .unwrap();
    let book = store::addresses(&pool, u).await.unwrap();
    assert_eq!(
        (book.len(), book[0].id, book[0].is_default),
        (1, first.id, true)
    );
    let mut bad = home("Ann");
    bad.country = "Narnia".into();
    assert!(matches!(
        store::create_address(&pool, &ctx, u, &bad, false).await,
        Err(Error::Invalid {
            reason: "invalid_country",
            ..
        })
    ));
    bad = home("");
    assert!(matches!(
        store::create_address(&pool, &ctx, u, &bad, false).await,
        Err(Error::Invalid { field: "name", .. })
    ));
    for i in 1..store::MAX_ADDRESSES {
        store::create_address(&pool, &ctx, u, &home(&format!("Ann {i}")), false)
            .await
            .unwrap();
    }
    assert!(matches!(
        store::create_address(&pool, &ctx, u, &home("one too many"), false).await,
        Err(Error::TooManyAddresses)
    ));
}
