"""Physical reference data shared by several stages (X-ray attenuation of tissues and
calibration materials). No stage logic lives here."""
