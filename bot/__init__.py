"""route-me: a GitHub App that routes planning to a strong model and typing to a cheap one."""
