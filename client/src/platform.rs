//! The few facts the app takes from its host: the time, randomness and the
//! page's address. From JavaScript in the browser; stand-ins natively, where
//! only tests run.

/// Milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Minutes the local time zone is ahead of UTC.
#[cfg(target_arch = "wasm32")]
pub fn utc_offset_minutes() -> i32 {
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

/// Uniform in `[0, 1)`.
#[cfg(target_arch = "wasm32")]
pub fn random_unit() -> f64 {
    js_sys::Math::random()
}

/// `location.protocol` and `location.host` of the page.
#[cfg(target_arch = "wasm32")]
pub fn page_location() -> Option<(String, String)> {
    let location = web_sys::window()?.location();
    Some((location.protocol().ok()?, location.host().ok()?))
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn utc_offset_minutes() -> i32 {
    0
}

#[cfg(not(target_arch = "wasm32"))]
pub fn random_unit() -> f64 {
    f64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) / 1e9
}

#[cfg(not(target_arch = "wasm32"))]
pub fn page_location() -> Option<(String, String)> {
    None
}
