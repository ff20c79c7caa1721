using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>The README.md written beside a model's <c>config.pbtxt</c>: how to start Triton, a client's requests, the state, the limits.</summary>
internal static class TritonReadme
{
    /// <summary>The file name.</summary>
    public const string File = "README.md";

    /// <summary>The README's text for model <paramref name="name"/>.</summary>
    public static string Format(string name, TritonModel model, RwkvManifest manifest, TritonRepositoryOptions options, IReadOnlyList<string> externalDataFiles)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        RwkvArchitectureInfo a = manifest.Architecture;
        TritonTensor tokens = model.Inputs[0];
        TritonTensor logits = model.Outputs[0];
        string minOrt = manifest.MinOnnxRuntimeVersion ?? "(not recorded: re-export to record it)";
        string customOps = manifest.StepGraph.CustomOps is { Count: > 0 } ops
            ? string.Join(", ", ops.Select(o => $"`{o.Domain}.{o.OpType}` (ONNX Runtime {o.MinOnnxRuntimeVersion})"))
            : "none (plain ONNX)";
        string stops = manifest.Generation is { } g
            ? (g.StopTokenIds.Count == 0 ? "none (stop on a length limit)" : string.Join(", ", g.StopTokenIds.Select(t => t.ToString(c))))
            : "not recorded";
        long stateBytes = manifest.State.Sum(s => s.Shape.Aggregate(4L, (bytes, d) => bytes * d));
        int sequences = options.MaxSequences ?? 4 * options.MaxBatchSize;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"""
            # `{name}`: RWKV-{a.Version} on Triton Inference Server

            A Triton model repository written by `rwkv-onnx triton` from an RWKV ONNX export (checkpoint `{manifest.Source.File}`,
            sha256 `{manifest.Source.Sha256}`): {a.Layers} layers, width {a.Embedding}, vocabulary {a.Vocab}, {manifest.WeightDType} weights.
            Triton serves the export's **step graph**, one token per sequence and request, through ONNX Runtime; its sequence
            batcher keeps each sequence's recurrent state ({manifest.State.Count} tensors, {stateBytes:N0} bytes of float32) between
            requests and runs the ready requests of up to {options.MaxBatchSize} sequences as one batch.

            ## Start the server

            From the repository directory, the one that holds `{name}/` (this file's parent's parent):

            ```bash
            docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -p 8002:8002 \
              -v "$PWD:/models" nvcr.io/nvidia/tritonserver:25.06-py3 \
              tritonserver --model-repository=/models
            ```

            Without a GPU, leave out `--gpus all`: the instances then run on the CPU. Any `tritonserver` release whose ONNX Runtime
            backend has ONNX Runtime **{minOrt} or newer** runs the graph (NVIDIA's Frameworks Support Matrix lists the version in
            each container). Custom operators: {customOps}; Triton's ONNX Runtime backend runs the `com.microsoft` contrib
            operators. `curl localhost:8000/v2/models/{name}/ready` answers 200 once the model is loaded.

            ## Layout

            | path | what |
            | --- | --- |
            | `{name}/config.pbtxt` | backend `onnxruntime`, `max_batch_size` {options.MaxBatchSize}, input `{tokens.Name}`, output `{logits.Name}`, the sequence batcher and its state |
            | `{name}/1/model.onnx` | the export's step graph (version 1 of the model) |

            """);
        foreach (string file in externalDataFiles)
        {
            text.Append(CultureInfo.InvariantCulture, $"| `{name}/1/{file}` | its weights (ONNX external data; ONNX Runtime finds them beside `model.onnx`) |\n");
        }
        if (model.States.Any(s => s.InitialFile is not null))
        {
            text.Append(CultureInfo.InvariantCulture, $"| `{name}/{TritonModelConfig.InitialStateDirectory}/` | the start value of each state tensor that does not start at zero (float32, little-endian, row-major) |\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"| `{name}/{File}` | this file (Triton ignores it) |\n");
        text.Append(CultureInfo.InvariantCulture, $$"""

            ## Requests

            A sequence is one text being read and continued. Every request carries one token of one sequence:
            `{{tokens.Name}}` {{tokens.DataType}} of shape `[1, 1]` (batch 1, one token; Triton stacks the requests it batches),
            and returns `{{logits.Name}}` {{logits.DataType}} `[1, {{string.Join(", ", logits.Dims)}}]`, the raw scores of the next token.
            The request parameters say which sequence: `sequence_id` (any non-zero number the client picks, unique among live
            sequences), `sequence_start` true on its first request (its state starts as below) and `sequence_end` true on its
            last (Triton then frees the state). Feed the prompt token by token, then each sampled token; stop at a stop token
            ({{stops}}) or a length limit. Tokens are ids of the export's tokenizer (`{{manifest.Tokenizer.Kind}}`{{(manifest.Tokenizer.File is { } tf ? $", file `{tf}` in the export" : "")}}).

            With curl, over the KServe v2 HTTP protocol:

            ```bash
            curl -s localhost:8000/v2/models/{{name}}/infer -H 'Content-Type: application/json' -d '{
              "parameters": {"sequence_id": 42, "sequence_start": true},
              "inputs": [{"name": "{{tokens.Name}}", "datatype": "{{tokens.DataType["TYPE_".Length..]}}", "shape": [1, 1], "data": [34]}],
              "outputs": [{"name": "{{logits.Name}}"}]}'
            # the next tokens of sequence 42: "parameters": {"sequence_id": 42}; its last: {"sequence_id": 42, "sequence_end": true}
            ```

            With Python (`pip install tritonclient[grpc]`), greedy decoding:

            ```python
            import numpy as np
            import tritonclient.grpc as grpcclient

            client = grpcclient.InferenceServerClient("localhost:8001")

            def step(sequence_id, token, start=False, end=False):
                tokens = grpcclient.InferInput("{{tokens.Name}}", [1, 1], "{{tokens.DataType["TYPE_".Length..]}}")
                tokens.set_data_from_numpy(np.array([[token]], dtype=np.int64))
                result = client.infer("{{name}}", [tokens], outputs=[grpcclient.InferRequestedOutput("{{logits.Name}}")],
                                      sequence_id=sequence_id, sequence_start=start, sequence_end=end)
                return result.as_numpy("{{logits.Name}}")[0]

            prompt = [34, 105, 110]                        # token ids from the export's tokenizer
            for i, token in enumerate(prompt):
                logits = step(7, token, start=(i == 0))
            reply = []
            for _ in range(64):
                token = int(np.argmax(logits))
                reply.append(token)
                logits = step(7, token, end=(len(reply) == 64))   # the last request also ends the sequence
            ```

            Sequences from many clients (or threads of one, each with its own `sequence_id`) are batched together.

            ## State

            Triton keeps these tensors per sequence (`sequence_batching.state`: each request's `present_*` output becomes
            its next request's `past_*` input) and never sends them to the client. On `sequence_start` each starts from its
            `initial_state`: zeros, or the file named in `config.pbtxt`.

            | state (per layer) | dims per sequence | axes | start |
            | --- | --- | --- | --- |

            """);
        foreach (var slot in model.States.GroupBy(s => s.Info.Slot))
        {
            TritonStateEntry first = slot.First();
            bool fromFile = slot.Any(s => s.InitialFile is not null);
            string start = !fromFile ? "0"
                : slot.All(s => s.InitialFile is not null && s.Info.Initial != 0 && !(options.InitialStates?.ContainsKey(s.Info.Input) ?? false))
                    ? string.Create(c, $"{first.Info.Initial.ToString("G", c).ToLowerInvariant()} in every element (`{TritonModelConfig.InitialStateDirectory}/{first.Info.Input}.bin`, ...)")
                    : $"given values (`{TritonModelConfig.InitialStateDirectory}/{first.Info.Input}.bin`, ...)";
            text.Append(CultureInfo.InvariantCulture,
                $"| `past_{slot.Key}.{{layer}}` → `present_{slot.Key}.{{layer}}`, {slot.Count()} layers | `{TritonModel.Format(first.Dims)}` | {string.Join(", ", first.Info.Layout)} | {start} |\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"""

            The names and meanings are the export's (its CONTRACT.md, "State"): `att_shift` and `ffn_shift` hold the previous
            token's normalized input of the time mix and channel mix; `wkv` is the per-head recurrent matrix [head][value][key]
            (RWKV-5, 6, 7); `aa`, `bb`, `pp` are RWKV-4's running numerator, denominator and maximum exponent (`pp` starts at
            −1e30, which is why it has a start file).

            ## Limits

            - **Prompts run one token per request.** The export's prefill graph is not served: its token count varies from
              request to request and its `num_logits` input is a scalar, so Triton could batch only requests of equal length,
              and Triton keeps implicit state per model, so a separate prefill model could not hand its state to this one. A
              prompt of P tokens is P requests in a row (each waits for the previous).
            - **Sequences.** Each instance keeps up to {sequences} sequences (`oldest.max_candidate_sequences`); further ones
              wait in Triton's backlog until one ends. A sequence idle for {options.SequenceIdleTimeout.TotalSeconds.ToString(c)} s
              (`max_sequence_idle_microseconds`) is dropped with its state; its next request then fails.
            - **Batching.** The `oldest` strategy runs, without waiting, the ready requests of up to {options.MaxBatchSize} sequences;
              `max_queue_delay_microseconds` in `oldest {"{ }"}` trades latency for larger batches. Rows never mix: each row of a
              batch is one sequence, and no padding enters any state.
            - **Instances.** `instance_group` has {options.Instances} instance(s) on each GPU (or on the CPU without one); a sequence
              stays on the instance that started it.
            - **Starting states are fixed per model.** Every sequence starts from the same state; a request cannot pick another
              (write a second repository with `rwkv-onnx triton --state` for a tuned start).

            """);
        return text.ToString();
    }
}
