// `sqlx::migrate!` embeds the migration files at compile time; without this, editing or
// adding one would not rebuild the crate and the old schema would keep being applied.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
