import os
import sys
import tempfile

import numpy as np

if sys.argv[1] == "keras":
    import keras
    from keras import layers
else:
    import cyneuron as keras
    from cyneuron import layers
rng = np.random.default_rng(0)
x_train = rng.random((2000, 784)).astype("float32")
y_train = rng.integers(0, 10, 2000)
x_test, y_test = x_train[:300], y_train[:300]
x_val = x_train[-200:]
y_val = y_train[-200:]
x_train = x_train[:-200]
y_train = y_train[:-200]


def model_with_weights(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    r = np.random.default_rng(seed)
    model.set_weights([r.normal(0, 0.05, np.shape(w)).astype("float32") for w in model.get_weights()])
    return model


model = model_with_weights()
model.compile(
    optimizer=keras.optimizers.RMSprop(),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val), shuffle=False, verbose=0)
print({k: [round(float(v), 5) for v in vs] for k, vs in history.history.items()})
results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
print("test loss, test acc:", np.round(results, 5))
predictions = model.predict(x_test[:3], verbose=0)
print("predictions shape:", predictions.shape)


def get_uncompiled_model():
    return model_with_weights()


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return model


model = get_compiled_model()
model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1, shuffle=False, verbose=0)
print(np.round(model.evaluate(x_test, y_test, verbose=0), 5))
class_weight = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 2.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}
model = get_compiled_model()
h = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, shuffle=False, verbose=0)
print("class_weight", np.round(h.history["loss"], 5))
sample_weight = np.ones(shape=(len(y_train),))
sample_weight[y_train == 5] = 2.0
model = get_compiled_model()
h = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, shuffle=False, verbose=0)
print("sample_weight", np.round(h.history["loss"], 5))
model = get_compiled_model()
callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)]
h = model.fit(
    x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks, validation_split=0.2, shuffle=False, verbose=0
)
print("early stopped after", len(h.history["loss"]))
d = tempfile.mkdtemp()
model = get_compiled_model()
callbacks = [
    keras.callbacks.ModelCheckpoint(
        filepath=os.path.join(d, "mymodel_{epoch}.keras"), save_best_only=True, monitor="val_loss", verbose=1
    )
]
model.fit(
    x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks, validation_split=0.2, shuffle=False, verbose=0
)
print(sorted(os.listdir(d)))
initial_learning_rate = 0.1
lr_schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
)
optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
model = get_uncompiled_model()
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
print(
    "sched", np.round(model.fit(x_train, y_train, epochs=1, batch_size=64, shuffle=False, verbose=0).history["loss"], 4)
)


class ExampleSequence(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx):
        s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.x[s], self.y[s]


model = get_compiled_model()
h = model.fit(ExampleSequence(x_train, y_train, 64), epochs=1, verbose=0)
print("pydataset", np.round(h.history["loss"], 5))
