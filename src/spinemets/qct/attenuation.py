"""Re-export of :mod:`spinemets.physics.attenuation` (the tables moved to the shared physics
package; this name stays importable for existing users)."""

from ..physics.attenuation import (ENERGY_KEV, ICRU44_DENSITY_G_CM3, MASS_ATTENUATION_CM2_G, TISSUES,
                                   ideal_hu, mass_attenuation)

__all__ = ["ENERGY_KEV", "ICRU44_DENSITY_G_CM3", "MASS_ATTENUATION_CM2_G", "TISSUES", "ideal_hu",
           "mass_attenuation"]
