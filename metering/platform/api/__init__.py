"""HTTP plumbing shared by every domain: problems, auth, bodies, pagination, health."""
