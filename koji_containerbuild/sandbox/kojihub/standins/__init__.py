"""Stand-ins for modules only a real Koji hub has; see kojihub/."""
