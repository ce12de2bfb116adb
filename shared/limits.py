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

# Deep-learning foundations (topic 3)
NN_POINTS_MIN, NN_POINTS_MAX = 20, 2000
NN_DEFAULT_POINTS = 500
NN_CLASSES_MAX = 5
NN_NOISE_MAX = 0.5
NN_TRAIN_PERCENT_MIN, NN_TRAIN_PERCENT_MAX = 10, 90
NN_LAYERS_MAX = 6
NN_NEURONS_MAX = 32
NN_LR_MIN, NN_LR_MAX = 1e-4, 10.0  # SGD at 3-10 diverges on purpose, for the NaN lesson
NN_BATCH_MIN, NN_BATCH_MAX = 1, 256
NN_L2_MAX = 0.1
NN_DROPOUT_MAX = 0.5
NN_CSV_MAX_BYTES = 200_000  # 2,000 rows of x,y,label fit in well under this
NN_CODE_STEPS_MIN, NN_CODE_STEPS_MAX = 100, 100_000  # steps the generated script trains for
DIGITS_LR_MIN, DIGITS_LR_MAX = 1e-4, 1e-1
TSNE_POINTS = 297  # t-SNE of every held-out digit takes about a second on 2 cores: drawn on Pause only
CONV_IMAGE_MAX_PX = 96  # uploads are shrunk to this; a 3x3 kernel on a projector needs no more
CONV_KERNEL_ABS_MAX = 100.0
RNN_HIDDEN_MIN, RNN_HIDDEN_MAX = 1, 16
RNN_SEQUENCE_MAX_CHARS = 64
RNN_TRAIN_STEPS_MAX = 1000
