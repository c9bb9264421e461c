import os
import sys
import tempfile

import numpy as np

if sys.argv[1] == "keras":
    import keras
else:
    import cyneuron as keras
d = tempfile.mkdtemp()
rng = np.random.default_rng(0)


def get_model():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    r = np.random.default_rng(1)
    model.set_weights([r.normal(0, 0.3, np.shape(w)).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


model = get_model()
test_input = rng.random((128, 32)).astype("float32")
test_target = rng.random((128, 1)).astype("float32")
model.fit(test_input, test_target, verbose=0, shuffle=False)
p = os.path.join(d, "my_model.keras")
model.save(p)
reconstructed_model = keras.models.load_model(p)
np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))
print("ok1", type(reconstructed_model).__name__)
model.fit(test_input, test_target, verbose=0, shuffle=False)
reconstructed_model.fit(test_input, test_target, verbose=0, shuffle=False)
print(
    np.round(model.evaluate(test_input, test_target, verbose=0), 5),
    np.round(reconstructed_model.evaluate(test_input, test_target, verbose=0), 5),
)
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
config = model.get_config()
new_model = keras.Sequential.from_config(config)
print("cfg", [layer.__class__.__name__ for layer in new_model.layers])
inputs = keras.Input((32,))
outputs = keras.layers.Dense(1)(inputs)
model = keras.Model(inputs, outputs)
config = model.get_config()
new_model = keras.Model.from_config(config)
print("fcfg", len(new_model.layers))
json_config = model.to_json()
new_model = keras.models.model_from_json(json_config)
print("json", type(new_model).__name__)
layer = keras.layers.Dense(3, activation="relu")
layer_config = layer.get_config()
new_layer = keras.layers.Dense.from_config(layer_config)
print(
    "layer",
    new_layer.units,
    new_layer.activation.__name__ if hasattr(new_layer.activation, "__name__") else new_layer.activation,
)


def create_layer():
    layer = keras.layers.Dense(64, activation="relu", name="dense_2")
    layer.build((None, 784))
    return layer


layer_1 = create_layer()
layer_2 = create_layer()
layer_2.set_weights(layer_1.get_weights())
print("lw", all(np.array_equal(a, b) for a, b in zip(layer_1.get_weights(), layer_2.get_weights())))


def create_model():
    return keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


m1 = create_model()
m2 = create_model()
m2.set_weights(m1.get_weights())
w = os.path.join(d, "ckpt.weights.h5")
m1.save_weights(w)
m3 = create_model()
m3.load_weights(w)
print("wfile", all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m3.get_weights())))
sequential_model = keras.Sequential(
    [
        keras.Input(shape=(784,), name="digits"),
        keras.layers.Dense(64, activation="relu", name="dense_1"),
        keras.layers.Dense(64, activation="relu", name="dense_2"),
        keras.layers.Dense(10, name="predictions"),
    ]
)
functional_model = keras.Model(inputs=sequential_model.inputs, outputs=sequential_model.outputs)
print("seq->fn", type(functional_model).__name__, len(functional_model.layers))
inputs = keras.Input(shape=(784,), name="digits")
x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = keras.layers.Dense(10, name="predictions")(x)
functional_model = keras.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")
functional_model.save_weights(os.path.join(d, "pretrained.weights.h5"))
inputs = keras.Input(shape=(784,), name="digits")
x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = keras.layers.Dense(5, name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="new_model")
try:
    model.load_weights(os.path.join(d, "pretrained.weights.h5"), skip_mismatch=True)
    print("skip_mismatch ok")
except Exception as e:
    print("skip_mismatch", type(e).__name__)
print(sorted(os.listdir(d)))
