"""Bounds on what a user can ask for, in one place. The UI sliders and the server-side checks both read these."""

# Language generation (topic 4)
PROMPT_MAX_CHARS = 4000
PROMPT_MAX_TOKENS = 2048  # counted after the chat template; 4,000 emoji are about 12,000 tokens
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
LM_SERVER_TIMEOUT_S = 60.0  # the class server (shared/lm_server.py): longest wait for its next token
LM_SERVER_CONNECT_TIMEOUT_S = 5.0  # ... and for a connection
LM_SERVER_CONCURRENCY = 32  # generations the app passes to a class server at once (the engine batches them)

# Links: an unknown ?tab= value is quoted back (escaped) up to this length, then cut with "…"

# Uploads and files anywhere in the app (shared/files.py)
MAX_UPLOAD_SIZE = "10mb"  # one file (gradio's launch(max_file_size=...))
UPLOAD_REQUEST_MAX_BYTES = 20 * 2**20  # one request body: an upload (all its files together) or a JSON call
UPLOAD_CLIENT_MAX_BYTES = 200 * 2**20  # what one client (IP address) may upload per window
UPLOAD_CLIENT_WINDOW_S = 60 * 60
CACHE_MAX_BYTES = 2**30  # gradio's folder of uploads and returned files: the oldest go first above this
CACHE_MAX_AGE_S = 60 * 60  # uploads and returned files older than this are deleted ...
DELETE_CACHE = (10 * 60, CACHE_MAX_AGE_S)  # ... every 10 minutes (gr.Blocks(delete_cache=(every_s, age_s)))
CACHE_SWEEP_EVERY_S = 60  # the byte budget is also checked this often (and before every upload)
OUTPUT_FOLDERS_KEPT = 64  # folders of files a demo writes itself before gradio copies them
IMAGE_MAX_PIXELS = 4096 * 4096  # PIL refuses to open a larger image (it reads the size from the header)
MEMORY_RELEASE_EVERY_S = 15  # freed memory goes back to the operating system this often (shared/memory.py)
STATE_SESSIONS_MAX = 128  # sessions whose state gradio keeps (1.6 MB each when new, about 2 MB in use here); the oldest go first

# Queue
QUEUE_MAX_SIZE = 64
DEFAULT_CONCURRENCY = 2
STOP_ARMED_MAX = 1024  # Stop flags armed by a click whose work has not begun (shared/stopping.py)

# Live training (shared/live.py; topics 1-3)
LIVE_TICK_S = 0.15  # the page asks for a training tick this often while Play is on
LIVE_TICK_BUDGET_S = 0.06  # least training time per tick; more when redrawing takes longer (LiveRun.tick_budget_s)
LIVE_TICK_BUDGET_MAX_S = 0.5  # most training time per tick: one learner's tick never holds a worker long
LIVE_MAX_STEPS_PER_TICK = 400
LIVE_RATE_TICKS = 20  # ticks (about 3 s of Play) over which the page's steps per second are measured
LIVE_HISTORY_POINTS = 400  # metric points kept per run (older ones thinned, never unbounded)
LIVE_MAX_RUNS = 48  # live runs kept server-wide per demo; the least recently used goes first
LIVE_RUN_TTL_S = 30 * 60  # a run untouched this long is dropped
LIVE_GONE_KEPT = 1024  # dropped runs whose learner can still be told why (shared/live.py: RunStore.why_gone)

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
VAE_LATENT_RANGE = 3.0  # the decoded latent plane spans [-3, 3]^2: 99.7% of the prior N(0, 1) on each axis
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

# --- topic 7: applications across industries ---
MARKETING_FIELD_MAX_CHARS = 300  # product name, audience, tone
MARKETING_FACTS_MAX_CHARS = 1500
MARKETING_TEMPLATE_MAX_CHARS = 2000
MARKETING_VARIANTS_MAX = 4
MARKETING_MAX_NEW_TOKENS = 160
CODE_STUB_MAX_CHARS = 2000
CODE_SAMPLES_MAX = 8  # k samples for pass@k
CODE_MAX_NEW_TOKENS = 256
RUFF_TIMEOUT_S = 10.0
TOPOLOGY_NELX_MIN, TOPOLOGY_NELX_MAX = 10, 120
TOPOLOGY_NELY_MIN, TOPOLOGY_NELY_MAX = 5, 60
TOPOLOGY_VOLFRAC_MIN, TOPOLOGY_VOLFRAC_MAX = 0.1, 0.9
TOPOLOGY_PENAL_MIN, TOPOLOGY_PENAL_MAX = 1.0, 5.0
TOPOLOGY_RMIN_MIN, TOPOLOGY_RMIN_MAX = 1.0, 4.0
TOPOLOGY_ITERATIONS_MAX = 200
TOPOLOGY_UPDATE_S = 0.25  # the live picture redraws at most this often (every iteration is computed)
SYNTH_ROWS_MIN, SYNTH_ROWS_MAX = 50, 5000
SYNTH_VAE_STEPS_MIN, SYNTH_VAE_STEPS_MAX = 100, 3000
SYNTH_TABLE_MIN_ROWS, SYNTH_TABLE_MAX_ROWS = 60, 2000  # an uploaded table
SYNTH_TABLE_MAX_COLUMNS = 32
SYNTH_HISTOGRAM_COLUMNS = 9
SCIENCE_DIGITS_MAX = 4  # digits per operand of a generate-then-verify problem
SCIENCE_PROBLEMS_MAX = 8
SCIENCE_SAMPLES_MAX = 16  # candidates per problem: 8 x 16 short answers stay under a minute or two on 2 busy cores
SCIENCE_MAX_NEW_TOKENS = 8  # an answer is one number
SECTORS_TASK_MAX_CHARS = 300  # the task prompted once per sector
SECTORS_MAX_NEW_TOKENS = 96

# --- topic 10: build your own model (apps/build_your_own/) ---
BYO_UPLOAD_MAX_BYTES = 2_000_000  # a .txt upload; the whole of Shakespeare is about 4.6 MB as plain text
BYO_TEXT_MIN_CHARS = 2_000  # below this, a held-out split cannot hold a few context windows
BYO_CHAR_VOCAB_MAX = 512  # distinct characters a character-level tokenizer accepts (else use BPE)
BYO_BPE_VOCAB_MIN, BYO_BPE_VOCAB_MAX = 260, 4096  # byte-level BPE: 256 bytes + merges (+ 1 special token)
BYO_LAYERS_MAX = 6
BYO_HEADS_MAX = 8
BYO_EMBED_MIN, BYO_EMBED_MAX = 16, 256  # must be a multiple of the number of heads
BYO_CONTEXT_MIN, BYO_CONTEXT_MAX = 16, 256  # tokens the model sees at once
BYO_DROPOUT_MAX = 0.5
BYO_BATCH_MIN, BYO_BATCH_MAX = 1, 64
BYO_BATCH_TOKENS_MAX = 2048  # batch x context: bounds a step's activations (about 0.5 GB at the largest model)
BYO_STEPS_MAX = 5_000
BYO_LR_MIN, BYO_LR_MAX = 1e-5, 1e-1  # high enough to see a too-large learning rate fail
BYO_PARAMS_MAX = 6_000_000  # parameters per model (Adam keeps 3 more copies): about 100 MB per run at most
BYO_RUN_MAX_S = 20 * 60  # a run stops (keeping its model) after this much training time
BYO_MAX_ACTIVE_RUNS = 3  # runs training at the same moment, server-wide; each uses one CPU thread
BYO_MAX_RUNS = 12  # runs (trained models) kept server-wide, one per session; the least recently used goes first
# What those runs may hold together: weights and token ids, and until a run finishes its gradients, Adam's two
# moments and a checkpoint (5 copies of the weights: 120 MB at BYO_PARAMS_MAX). The least recently used paused or
# finished run is dropped to make room; a run that does not fit beside the runs in training is refused.
BYO_RUNS_MAX_BYTES = 512 * 2**20
BYO_IDLE_PAUSE_S = 90  # a run whose page stopped asking for updates this long pauses itself
BYO_DATASETS_KEPT = 6  # prepared datasets (token ids + tokenizer) kept server-wide
BYO_SENTENCE_MAX_CHARS = 500  # the sentence whose tokens are shown, one coloured chip each
BYO_SAMPLE_CHARS = 200  # length of the samples printed during training, in tokens
BYO_EXPORTS_KEPT = 12  # zip files kept in the temporary folder for download
BYO_LORA_STEPS_MAX = 60
BYO_LORA_SEQ_MIN, BYO_LORA_SEQ_MAX = 16, 128
BYO_LORA_RANK_MAX = 32
BYO_LORA_TEXT_MAX_CHARS = 200_000  # LoRA reads this much of the learner's text at most

# --- topic 8: ethics (apps/ethics/) ---
ETHICS_TEXT_MAX_CHARS = 6000  # a text to score or check for a watermark
ETHICS_TEXT_MAX_TOKENS = 512  # the detector's forward pass reads at most this many tokens
WATERMARK_GAMMA_MIN, WATERMARK_GAMMA_MAX = 0.05, 0.95  # share of the vocabulary on the green list
WATERMARK_DELTA_MAX = 10.0  # bias added to green logits
DETECTION_MAX_NEW_TOKENS = 64  # each of the three machine-written examples
WATERMARK_Z_THRESHOLD = 4.0  # Kirchenbauer et al. 2023 use z > 4 (one-sided p about 3e-5)
WATERMARK_QUALITY_DELTAS = (0.0, 1.0, 2.0, 4.0, 8.0)  # the quality-cost chart generates once per delta
WATERMARK_QUALITY_MAX_NEW_TOKENS = 48  # five generations: the chart stays well under a minute on 2 busy cores
BIAS_TEMPLATES_MAX = 6
BIAS_FILLERS_MAX = 20  # occupations (or other attributes) per probe
BIAS_CONTINUATIONS_MAX = 4  # contrasting continuations, e.g. he / she / they
BIAS_WORD_MAX_CHARS = 40
WEAT_WORDS_MIN, WEAT_WORDS_MAX = 2, 32  # words per WEAT set
WEAT_PERMUTATIONS_MIN, WEAT_PERMUTATIONS_MAX = 100, 100_000
PROVENANCE_MAX_SIDE_PX = 768  # larger images are shrunk (with a warning) before watermarking
PROVENANCE_MESSAGE_CHARS = 4  # 32 bits: what the learned (RivaGAN) watermark carries
PNG_METADATA_MAX_CHARS = 2000
MEMORISATION_PROMPT_WORDS_MAX = 40  # words of a text given as the prompt
MEMORISATION_MAX_NEW_TOKENS = 48  # tokens of the rest the model tries to reproduce
OVERSIGHT_TEXT_MAX_CHARS = 1500  # the customer's question, the policy, the draft
OVERSIGHT_NAME_MAX_CHARS = 60
OVERSIGHT_REASON_MAX_CHARS = 300
OVERSIGHT_MAX_NEW_TOKENS = 96
OVERSIGHT_LOG_MAX = 50  # audit records kept per session (the oldest go first)

# --- topic 9: multimodal (apps/multimodal/) ---
MM_TEXT_MAX_CHARS = 300  # a search query, a chain prompt or a question about a picture
MM_IMAGE_MAX_PIXELS = 4096 * 4096  # larger pictures are refused; the tiny CLIP sees 32 x 32 anyway
MM_TOP_K_MAX = 24  # search results / nearest captions shown
MM_MAP_POINTS = 120  # gallery emoji drawn per modality on the 2-D map
MM_CHAIN_TEXT_TOKENS = 40  # the language model's short text in the chain
MM_CHAIN_BARS = 4  # bars of the chain's melody
MM_TTS_TIMEOUT_S = 15  # espeak-ng gets this long to speak the text
MM_VLM_MAX_NEW_TOKENS = 96  # answer length of the hub vision-language model
COLLAB_TOKENS = 48  # at most this many tokens per story opening in the collaboration experiment (topic 9)
FORECAST_DRAWS = 20_000  # Monte Carlo draws of the economic-impact calculator (topic 9)

# --- topic 6: music (apps/music/) ---
MELODY_BARS_MAX = 32  # full bars one melody may have
MELODY_DEFAULT_BARS = 8
MELODY_TEMPERATURE_MAX = 2.0
MELODY_OPENING_MAX_CHARS = 2000  # note names or ABC typed as the opening
MELODY_OPENING_MAX_NOTES = 128
MELODY_PITCH_MIN, MELODY_PITCH_MAX = 48, 91  # C3 .. G6: the range the model was trained on
MELODY_TEMPO_MIN, MELODY_TEMPO_MAX = 30, 240  # quarter notes per minute
MELODY_CANDIDATES = 8  # candidates shown per step in "look inside"
MUSICGEN_PROMPT_MAX_CHARS = 300
MUSICGEN_DURATION_MIN_S, MUSICGEN_DURATION_MAX_S = 0.5, 15.0  # seconds of audio MusicGen may make
MUSICGEN_GUIDANCE_MAX = 10.0
MUSICGEN_FRAME_RATE_HZ = 50  # EnCodec 32 kHz frames per second: tokens per second of audio

# --- topic 5: images (apps/images.py) ---
IMAGES_PROMPT_MAX_CHARS = 500  # the embedded model reads 16 tokens, CLIP 77: longer prompts are cut (with a warning)
IMAGES_STEPS_MAX = 100
IMAGES_GUIDANCE_MAX = 20.0
IMAGES_BATCH_MAX = 4
IMAGES_STRENGTH_MIN = 0.05  # image to image: below this almost no step runs
IMAGES_UPLOAD_MAX_PIXELS = 4096 * 4096  # larger uploads are refused; accepted ones are resized to the model's size

# --- every input (shared/inputs.py) ---
PICTURE_MAX_PIXELS = 4096 * 4096  # any picture input; larger ones are refused from their header, before decoding
TEXT_MAX_CHARS = 10_000  # any text box without a lower limit of its own
