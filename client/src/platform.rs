//! The few facts and services the app takes from its host: the time,
//! randomness, the page's address, localStorage, animation frames, the
//! clipboard. From JavaScript in the browser; stand-ins natively, where only
//! tests run.

#[cfg(target_arch = "wasm32")]
mod web {
    use wasm_bindgen::JsCast;

    /// Milliseconds since the Unix epoch.
    pub fn now_ms() -> u64 {
        js_sys::Date::now() as u64
    }

    /// Minutes the local time zone is ahead of UTC.
    pub fn utc_offset_minutes() -> i32 {
        -(js_sys::Date::new_0().get_timezone_offset() as i32)
    }

    /// Uniform in `[0, 1)`.
    pub fn random_unit() -> f64 {
        js_sys::Math::random()
    }

    /// `location.protocol` and `location.host` of the page.
    pub fn page_location() -> Option<(String, String)> {
        let location = web_sys::window()?.location();
        Some((location.protocol().ok()?, location.host().ok()?))
    }

    /// `location.hash`.
    pub fn location_hash() -> String {
        web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default()
    }

    pub fn set_location_hash(hash: &str) {
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_hash(hash);
        }
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn storage_get(key: &str) -> Option<String> {
        storage()?.get_item(key).ok()?
    }

    pub fn storage_set(key: &str, value: &str) {
        if let Some(storage) = storage() {
            let _ = storage.set_item(key, value);
        }
    }

    /// `data-theme` on the root element: `light`, `dark`, or none (`auto`).
    pub fn set_theme(theme: &str) {
        let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        else {
            return;
        };
        let _ = if theme == "auto" {
            root.remove_attribute("data-theme")
        } else {
            root.set_attribute("data-theme", theme)
        };
    }

    /// Run `f` before the next repaint.
    pub fn next_frame(f: impl FnOnce() + 'static) {
        leptos::prelude::request_animation_frame(f);
    }

    /// Run `f` every `ms` milliseconds, for the life of the page.
    pub fn every(ms: u32, f: impl Fn() + 'static) {
        gloo_timers::callback::Interval::new(ms, f).forget();
    }

    pub fn copy_to_clipboard(text: &str) {
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(text);
        }
    }

    /// Expose a number to the browser tests as `window.<name>`.
    pub fn publish_metric(name: &str, value: f64) {
        if let Some(w) = web_sys::window() {
            let _ = js_sys::Reflect::set(w.unchecked_ref(), &name.into(), &value.into());
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod web {
    use std::cell::RefCell;
    use std::collections::HashMap;

    thread_local! {
        static STORAGE: RefCell<HashMap<String, String>> = RefCell::default();
        static HASH: RefCell<String> = RefCell::default();
    }

    pub fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    pub fn utc_offset_minutes() -> i32 {
        0
    }

    pub fn random_unit() -> f64 {
        f64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        ) / 1e9
    }

    pub fn page_location() -> Option<(String, String)> {
        None
    }

    pub fn location_hash() -> String {
        HASH.with(|h| h.borrow().clone())
    }

    pub fn set_location_hash(hash: &str) {
        HASH.with(|h| *h.borrow_mut() = hash.to_owned());
    }

    /// An in-memory stand-in for localStorage, per thread (so per test).
    pub fn storage_get(key: &str) -> Option<String> {
        STORAGE.with(|s| s.borrow().get(key).cloned())
    }

    pub fn storage_set(key: &str, value: &str) {
        STORAGE.with(|s| s.borrow_mut().insert(key.to_owned(), value.to_owned()));
    }

    pub fn set_theme(_theme: &str) {}

    /// Natively there are no frames: run at once.
    pub fn next_frame(f: impl FnOnce() + 'static) {
        f()
    }

    pub fn every(_ms: u32, _f: impl Fn() + 'static) {}

    pub fn copy_to_clipboard(_text: &str) {}

    pub fn publish_metric(_name: &str, _value: f64) {}
}

pub use web::*;
