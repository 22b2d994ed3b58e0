//! The browser entry point: panic messages to the console, then the app.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(kite_dashboard::App);
}
