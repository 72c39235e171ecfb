//! What keel's default features give a user crate: the derives work without any runtime
//! feature; the macros whose runtime part is behind a feature say which one to enable
//! (`tests/ui/`).

/// A bounded struct on default features.
#[derive(keel::Bounded, Debug)]
pub struct Port {
    /// The port number.
    #[bounded(1..=65535)]
    pub port: u32,
}

/// A compact struct on default features.
#[derive(keel::Compact, Clone, Copy, Debug, PartialEq)]
pub struct Pixel {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derives_work_on_default_features() {
        assert_eq!(Port::try_new(8080).unwrap().port(), 8080);
        let err = Port::try_new(0).unwrap_err().to_string();
        assert!(err.contains("Port.port must be >= 1, got 0"), "{err}");
        let mut pixels = PixelVec::new();
        pixels.push(Pixel { r: 1, g: 2 });
        assert_eq!(pixels.get(0), Some(Pixel { r: 1, g: 2 }));
    }
}
