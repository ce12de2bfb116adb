"""Bounds on what a user can ask for, in one place. The UI sliders and the server-side checks both read these."""

# Language generation (topic 4)
PROMPT_MAX_CHARS = 4000
MAX_NEW_TOKENS = 256
DEFAULT_MAX_NEW_TOKENS = 64
TEMPERATURE_MAX = 2.0
TOP_K_MAX = 200
TOP_P_MIN = 0.05
REPETITION_PENALTY_MAX = 2.0
SEED_MAX = 2**31 - 1
ATTENTION_MAX_TOKENS = 64
EXPLORER_TOP_N = 20
STEP_TOP_N = 10

# Uploads anywhere in the app
MAX_UPLOAD_SIZE = "10mb"

# Queue
QUEUE_MAX_SIZE = 64
DEFAULT_CONCURRENCY = 2
