// Run a TensorFlow.js graph model on float32 inputs with TensorFlow.js itself (CPU backend)
// and write its outputs: the reference Daka's converted ONNX graph is checked against.
//
//   node reference.js MODEL.json INPUT.f32 N,H,W,C OUTPUT_PREFIX OUT_NAME[,OUT_NAME...]
//
// INPUT.f32 holds little-endian float32 values in NHWC order; each output is written to
// OUTPUT_PREFIX.<index>.f32 with its shape in OUTPUT_PREFIX.<index>.json. With DAKA_TFJS_REPEAT=n
// it also prints the median time of n runs as JSON on stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

async function main() {
  const [modelPath, inputPath, shapeText, outPrefix, outNames] = process.argv.slice(2);
  if (!outNames) {
    throw new Error('usage: reference.js MODEL.json INPUT.f32 N,H,W,C OUTPUT_PREFIX OUT_NAME[,...]');
  }
  await tf.setBackend('cpu');
  const artifacts = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of artifacts.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelPath), p)));
  }
  const weights = Buffer.concat(buffers);
  const model = await converter.loadGraphModel(tf.io.fromMemory({
    modelTopology: artifacts.modelTopology,
    weightSpecs: specs,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const shape = shapeText.split(',').map(Number);
  const raw = fs.readFileSync(inputPath);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const input = tf.tensor(values, shape, 'float32');
  const names = outNames.split(',');
  const repeat = Number(process.env.DAKA_TFJS_REPEAT || 0);
  if (repeat > 0) {
    // Timing mode (daka bench faceres): median wall time of one execute + download, after a warm-up.
    const times = [];
    for (let i = 0; i < repeat + 1; i++) {
      const t0 = process.hrtime.bigint();
      const res = model.execute(input, names);
      await Promise.all((Array.isArray(res) ? res : [res]).map((t) => t.data()));
      tf.dispose(res);
      if (i > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: repeat }) + '\n');
  }
  const outputs = model.execute(input, names);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  for (let i = 0; i < list.length; i++) {
    const data = await list[i].data();
    fs.writeFileSync(`${outPrefix}.${i}.f32`, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    fs.writeFileSync(`${outPrefix}.${i}.json`, JSON.stringify({ name: names[i], shape: list[i].shape }));
  }
}

main().catch((err) => { console.error(err && err.stack ? err.stack : String(err)); process.exit(1); });
