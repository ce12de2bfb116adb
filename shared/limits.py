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

# Live training (shared/live.py; topics 1-3)
LIVE_TICK_S = 0.15  # the page asks for a training tick this often while Play is on
LIVE_TICK_BUDGET_S = 0.06  # training time per tick, so a tick (train + redraw) stays well under 0.2 s
LIVE_MAX_STEPS_PER_TICK = 50
LIVE_HISTORY_POINTS = 400  # metric points kept per run (older ones thinned, never unbounded)
LIVE_MAX_RUNS = 48  # live runs kept server-wide per demo; the least recently used goes first
LIVE_RUN_TTL_S = 30 * 60  # a run untouched this long is dropped

# 2-D datasets (topics 1 and 2)
POINTS_MIN = 8  # fewer points than this cannot show a distribution
POINTS_MAX = 2000
DEFAULT_POINTS = 600
CSV_MAX_ROWS = POINTS_MAX
GMM_COMPONENTS_MAX = 20
EM_ITERATIONS_MAX = 100
KDE_BANDWIDTH_MIN, KDE_BANDWIDTH_MAX = 0.02, 2.0
SAMPLES_MAX = 2000
SAMPLING_TEMPERATURE_MIN, SAMPLING_TEMPERATURE_MAX = 0.1, 3.0

# Key models (topic 2)
HIDDEN_MIN, HIDDEN_MAX = 8, 256
NOISE_DIM_MAX = 16
LEARNING_RATE_MIN, LEARNING_RATE_MAX = 1e-5, 1e-1  # GAN at 0.1 diverges on purpose, for the NaN lesson
DIFFUSION_TIMESTEPS_MIN, DIFFUSION_TIMESTEPS_MAX = 10, 500
VAE_LATENT_RANGE = 4.0  # the decoded latent plane spans [-4, 4]^2 (the prior's bulk)
COMPARE_STEPS_MAX = 3000
