use keel::Bounded;

#[derive(Bounded)]
pub struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
    #[bounded(0..=300)]
    timeout: u32,
}

#[derive(Bounded, Clone, Copy)]
#[bounded(1..=65535)]
pub struct Port(u16);

const CFG: NetworkConfig = NetworkConfig::new_const(8080, 301);
const NO_PORT: Port = Port::new_const(0);

fn main() {
    let _ = (CFG.port(), NO_PORT.get());
}
