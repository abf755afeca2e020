"""Every ``st.session_state`` key the app uses, declared once, widget keys included.

Pages and helpers read and write session state (and name their keyed widgets) through these
names, never string literals, so a typo is an import error instead of a silently empty value.
"""

# ----- values the app keeps per session -----------------------------------------------
WORKSPACE = "sid"  # this browser's private workspace token (also in the page address as ``ws``)
ACTIVE_MODEL = "active_model"  # the picker label of the model every page uses
SESSION_MODELS = "session_models"  # label -> MLP trained or imported in this session
JOB = "job"  # this session's TrainingJob, if any
SHOWN_JOB = "shown_job"  # the job whose finished results the Train page has shown
DATA_PROBLEM = "data_problem"  # why the dataset files on disk cannot be used ('' if fine)
IMPORTED = "imported"  # file id of the last model file imported on Home
PREDICT_RNG = "predict_rng"  # random generator for "random test image"
PREDICT_TEST_INDEX = "predict_test_index"  # the test image shown on Predict's "Test image" tab
EXPLORE_SEED = "explore_seed"  # which random sample grid Explore shows
TRAIN_SETTINGS = "train_settings"  # the Train form's last valid settings (a TrainConfig dict), kept across pages
SCROLL_TO_LIVE = "scroll_to_live"  # set by Start: the next run of the Train page brings its live view into sight

# ----- keyed widgets (their value lives in session state under the key) ----------------
HOME_MODEL = "home_model"  # the model pickers, one per page
PREDICT_MODEL = "predict_model"
METRICS_MODEL = "metrics_model"
EXPLORE_MODEL = "explore_model"
PREDICT_CANVAS = "predict_canvas"
PREDICT_FILL = "predict_fill"  # the Draw tab's "Fill in closed outlines" toggle
PREDICT_GHOST = "predict_ghost"  # the Draw tab's ghost: a class whose mean image shows behind the canvas
PREDICT_UPLOAD = "predict_upload"
PREDICT_TEST_CLASS = "predict_test_class"  # the class filter of "Random test image"
METRICS_CM_VIEW = "metrics_cm_view"  # counts or shares in the confusion matrix
METRICS_TRUE_PREFIX = "metrics_true_"  # + model fingerprint: the gallery's true class
METRICS_PRED_PREFIX = "metrics_pred_"  # + model fingerprint: the gallery's predicted class
CONFIG_PREFIX = "cfg_"  # Train form widgets: cfg_<TrainConfig field>
START = "start_training"  # Train's Start button

# ----- forms (their submit buttons' widget ids derive from these) ---------------------
SAVE_FORM = "save"  # Train's "Save as"


def config_key(field: str) -> str:
    """The session-state key of the Train form widget for a ``TrainConfig`` field."""
    return CONFIG_PREFIX + field
