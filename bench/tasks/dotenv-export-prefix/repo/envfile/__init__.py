"""Read KEY=value files into a dict or the environment."""

from envfile.main import dotenv_values, load_env

__all__ = ["dotenv_values", "load_env"]
