//! `edgelm-compress`: checkpoint (+ LoRA adapters) -> one quantized GGUF file, with a
//! report of what it cost in size and accuracy.

mod progress;

use std::path::{Path, PathBuf};

use clap::Parser;
use edgelm_compress::error::CompressError;
use edgelm_compress::lora::LoraAdapter;
use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::{self, Override, Quant};
use edgelm_compress::report::{self, Report};
use edgelm_compress::source::Checkpoint;

#[derive(Parser)]
#[command(
    name = "edgelm-compress",
    version,
    about = "Merge LoRA adapters into a checkpoint, quantize it and write one GGUF file",
    after_help = "Types (-q), as llama-quantize names them and with its choice of types per tensor:\n  \
                  F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n  \
                  Q5_K_S Q5_K_M Q6_K (Q3_K, Q4_K, Q5_K are Q3_K_M, Q4_K_M, Q5_K_M).\n\
                  --pure gives every weight the type itself; --tensor-type types: F32 F16 BF16\n\
                  Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K.\n\
                  Norms, biases and other 1-D tensors always stay F32. A tensor whose rows fit no\n\
                  block of its type falls back as in llama-quantize (Q6_K -> Q8_0, Q4_K -> Q5_0,\n\
                  Q5_K -> Q5_1, Q2_K/Q3_K -> Q4_0, else F16); the report counts them.\n\
                  Sizes are in MiB (2^20 bytes)."
)]
struct Args {
    /// Hugging Face model directory (config.json, tokenizer.json, *.safetensors) or a GGUF file.
    #[arg(short, long)]
    input: PathBuf,
    /// PEFT adapter directory, optionally with a scale (DIR:0.5); repeat to merge several, in order.
    #[arg(long, value_name = "DIR[:SCALE]")]
    lora: Vec<String>,
    /// Quantization type, as llama-quantize's (Q4_0 gives its Q4_0 mix: the output
    /// matrix gets more bits).
    #[arg(short, long, value_name = "TYPE")]
    quant: String,
    /// Every weight gets TYPE itself, none more bits (llama-quantize --pure).
    #[arg(long)]
    pure: bool,
    /// Type for the tensors whose GGUF name matches a regular expression (first match wins).
    #[arg(long = "tensor-type", value_name = "PATTERN=TYPE")]
    tensor_type: Vec<String>,
    /// Output GGUF file (written to a temporary name, renamed when complete); not needed
    /// with --dry-run.
    #[arg(short, long, required_unless_present = "dry_run")]
    output: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "REPORT.json")]
    json: Option<PathBuf>,
    /// Print the type each tensor would get, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Worker threads (default: all cores).
    // Negative numbers parse as a value, so `-t -1` is an invalid value of --threads
    // rather than an unknown flag.
    #[arg(short, long, allow_negative_numbers = true)]
    threads: Option<usize>,
}

fn main() {
    edgelm_runtime::process::default_sigpipe();
    // An interrupted run leaves no temporary file behind.
    edgelm_runtime::process::remove_temp_files_on_signal();
    if let Err(e) = run(parse_args()) {
        eprintln!(
            "edgelm-compress: error: {}",
            edgelm_runtime::process::error_message(e.as_ref())
        );
        std::process::exit(1);
    }
}

/// clap's parse, except that missing arguments are reported on the `error:` line itself
/// (clap lists them on the lines after it).
fn parse_args() -> Args {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match Args::try_parse() {
        Ok(a) => a,
        Err(e) if e.kind() == ErrorKind::MissingRequiredArgument => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.join(", "),
                _ => String::new(),
            };
            eprintln!(
                "edgelm-compress: error: missing required argument(s): {missing} (see --help)"
            );
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    }
}

/// Most worker threads used, per CPU: beyond a few per core they only cost memory and
/// start-up time (100,000 of them took minutes to spawn).
const THREADS_PER_CPU: usize = 4;

fn run(args: Args) -> anyhow::Result<()> {
    let mut quant = Quant::parse(&args.quant)?;
    if args.pure {
        quant = quant.pure();
    }
    let overrides = args
        .tensor_type
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let loras = args
        .lora
        .iter()
        .map(|s| {
            let (dir, scale) = split_scale(s)?;
            // The adapter's fan_in_fan_out is not used: as peft does, each module is merged
            // in its own layout (the pipeline reads it from the checkpoint: GPT-2's Conv1D
            // weights are [in, out], every other architecture's nn.Linear [out, in]).
            Ok(LoraAdapter::open(&dir, scale)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let (false, Some(output)) = (args.dry_run, &args.output) {
        check_output_dir(output)?;
        let mut inputs = vec![args.input.clone()];
        inputs.extend(
            args.lora
                .iter()
                .filter_map(|s| split_scale(s).ok())
                .map(|(d, _)| d),
        );
        check_outputs(output, args.json.as_deref(), &inputs)?;
    }
    let ckpt = Checkpoint::open(&args.input)?;
    for w in &ckpt.warnings {
        eprintln!("edgelm-compress: warning: {w}");
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let max_threads = THREADS_PER_CPU * cpus;
    let threads = match args.threads {
        Some(t) if t > max_threads => {
            eprintln!(
                "edgelm-compress: warning: --threads {t} capped at {max_threads} ({THREADS_PER_CPU} per CPU)"
            );
            max_threads
        }
        Some(t) => t,
        None => cpus,
    };
    let opts = Options {
        quant,
        overrides,
        loras,
        threads,
    };
    let output = match (&args.output, args.dry_run) {
        (Some(o), false) => o.clone(),
        _ => {
            return dry_run(&ckpt, &opts);
        }
    };
    let bar = progress::Bar::new(&ckpt);
    // The JSON report is written before the model is renamed into place: a run leaves
    // both or neither.
    let write_json = |report: &Report| -> Result<(), CompressError> {
        let Some(path) = &args.json else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&report.to_json()).expect("a JSON value") + "\n";
        write_atomically(path, text.as_bytes())
            .map_err(|e| CompressError::io(path, "cannot write the report", e))
    };
    let report =
        pipeline::compress_then(&ckpt, &opts, &output, &|t| bar.tensor_done(t), &write_json)?;
    bar.finish();
    print!("{}", report.to_text());
    Ok(())
}

/// `--dry-run`: each tensor's type, the fallbacks and the tensor bytes it would write.
fn dry_run(ckpt: &Checkpoint, opts: &Options) -> anyhow::Result<()> {
    let choices = pipeline::plan(ckpt, opts)?;
    let mut after = 0u64;
    for (t, c) in ckpt.tensors.iter().zip(&choices) {
        let note = if c.fell_back() {
            format!(" (wanted {}, rows of {} fit no block)", c.wanted, t.cols())
        } else {
            String::new()
        };
        println!("{:<28} {:>5} -> {}{note}", t.name, t.src_type, c.ty.name());
        after += c.ty.row_bytes(t.cols()).unwrap_or(0) as u64 * t.rows() as u64;
    }
    let before: u64 = ckpt.tensors.iter().map(|t| t.src_bytes).sum();
    println!();
    println!("quant      {}", opts.quant.name());
    let counts = recipe::fallback_counts(choices.iter().map(|c| (c.wanted, c.ty)));
    if let Some(line) = report::fallback_line(&counts) {
        println!("fallback   {line}");
    }
    println!(
        "size       {:.1} MiB of tensors -> {:.1} MiB ({}); nothing written (--dry-run)",
        report::mib(before),
        report::mib(after),
        report::size_change(before, after)
    );
    Ok(())
}

/// `DIR` or `DIR:SCALE` (a trailing `:number`; a path may itself contain ':').
fn split_scale(s: &str) -> anyhow::Result<(PathBuf, f32)> {
    if let Some((dir, scale)) = s.rsplit_once(':') {
        if let Ok(v) = scale.parse::<f32>() {
            anyhow::ensure!(
                v.is_finite(),
                "--lora '{s}': the scale must be a finite number"
            );
            return Ok((PathBuf::from(dir), v));
        }
    }
    Ok((PathBuf::from(s), 1.0))
}

/// Fail before any work when the output cannot be created.
fn check_output_dir(out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "{}: the output folder {} does not exist",
        out.display(),
        dir.display()
    );
    anyhow::ensure!(!out.is_dir(), "{}: is a directory", out.display());
    Ok(())
}

/// Refuse outputs that would destroy something: the model and the report at one path
/// (the report would replace the model), an existing file that is not a regular one
/// (a device node would be replaced by a file), or a file of the input checkpoint or of
/// an adapter (it would be replaced while, or before, being read).
fn check_outputs(out: &Path, json: Option<&Path>, inputs: &[PathBuf]) -> anyhow::Result<()> {
    // Where a path points once links are followed (its folder's, for a new file).
    let resolve = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    let outputs: Vec<&Path> = std::iter::once(out).chain(json).collect();
    if let Some(json) = json {
        anyhow::ensure!(
            resolve(out) != resolve(json),
            "{}: --json names the output model itself; the report would replace it",
            json.display()
        );
    }
    for o in outputs {
        if let Ok(meta) = std::fs::metadata(o) {
            anyhow::ensure!(
                meta.is_file(),
                "{}: exists and is not a regular file; refusing to replace it",
                o.display()
            );
        }
        let Some(target) = resolve(o) else { continue };
        for i in inputs {
            let Ok(input) = i.canonicalize() else {
                continue;
            };
            // An existing file inside an input folder may be one the import reads.
            let clobbers = target == input
                || (input.is_dir() && target.starts_with(&input) && target.exists());
            anyhow::ensure!(
                !clobbers,
                "{}: is a file of the input {}; refusing to overwrite it",
                o.display(),
                i.display()
            );
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _guard = edgelm_runtime::process::TempFileGuard::new(&tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}
