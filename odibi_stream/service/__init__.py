"""The service layer: the daemon and its managers, leases, reloads and the control plane."""
