"""Paper comparison study: real-trial and held-out-subject evaluation, RNN vs IMU-driven ID."""
