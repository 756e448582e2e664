//! Copies result files out of the container's writable layers.
//!
//! Files are read from the layers (overlay upper directories and hidden directories) only,
//! never from the host tree, so files in read-only or full-access directories are never
//! collected. The walk never follows a symbolic link: links are recreated as links with the
//! same target text, and FIFOs, sockets and devices are skipped with a note, so a tool cannot
//! make the collector read host files or block.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use super::steps::WritableLayer;
use crate::sandbox::SkippedFile;

/// Copies every file in `layers` that matches `patterns` into `destination`; returns the
/// copied files (relative to `destination`) and the skipped ones.
pub fn collect(
    layers: &[WritableLayer],
    workdir: &Path,
    patterns: &[String],
    destination: &Path,
) -> (Vec<PathBuf>, Vec<SkippedFile>) {
    let mut copied = Vec::new();
    let mut skipped = Vec::new();
    let matcher = match build_matcher(patterns) {
        Ok(matcher) => matcher,
        Err(error) => {
            skipped.push(SkippedFile { path: PathBuf::new(), reason: format!("invalid result-file pattern: {error}") });
            return (copied, skipped);
        }
    };
    if patterns.is_empty() {
        return (copied, skipped);
    }

    for layer in layers {
        for entry in WalkDir::new(&layer.dir).follow_links(false).into_iter().filter_map(Result::ok) {
            let Ok(inside) = entry.path().strip_prefix(&layer.dir) else { continue };
            if entry.file_type().is_dir() {
                continue;
            }
            let container_path = layer.container_path.join(inside);
            let Some(relative) = matcher.output_path(&container_path, workdir) else { continue };
            match copy_entry(entry.path(), &relative, destination) {
                Ok(true) => copied.push(relative),
                Ok(false) => {}
                Err(reason) => skipped.push(SkippedFile { path: relative, reason }),
            }
        }
    }
    copied.sort();
    (copied, skipped)
}

/// Result-file patterns, split by how they are anchored. `*` never crosses a `/`; `**` does.
struct Matcher {
    /// Patterns relative to the working directory; they match only files below it.
    relative: GlobSet,
    /// Absolute patterns, stored without the leading `/`; they match any container path.
    absolute: GlobSet,
}

impl Matcher {
    /// The path a matching file gets in the output: relative to the working directory when
    /// a relative pattern matched, otherwise the absolute container path without its `/`.
    /// `None` when no pattern matches.
    fn output_path(&self, container_path: &Path, workdir: &Path) -> Option<PathBuf> {
        let candidate = match container_path.strip_prefix(workdir) {
            Ok(relative) if self.relative.is_match(relative) => relative.to_path_buf(),
            _ => {
                let absolute = container_path.strip_prefix("/").ok()?;
                if !self.absolute.is_match(absolute) {
                    return None;
                }
                absolute.to_path_buf()
            }
        };
        let safe = candidate.components().all(|component| matches!(component, Component::Normal(_)));
        (safe && !candidate.as_os_str().is_empty()).then_some(candidate)
    }
}

fn build_matcher(patterns: &[String]) -> Result<Matcher, globset::Error> {
    let mut relative = GlobSetBuilder::new();
    let mut absolute = GlobSetBuilder::new();
    for pattern in patterns {
        match pattern.strip_prefix('/') {
            Some(stripped) => absolute.add(GlobBuilder::new(stripped).literal_separator(true).build()?),
            None => relative.add(GlobBuilder::new(pattern).literal_separator(true).build()?),
        };
    }
    Ok(Matcher { relative: relative.build()?, absolute: absolute.build()? })
}

/// Copies one entry; returns false for overlay whiteouts, which mark deletions, not files.
fn copy_entry(source: &Path, relative: &Path, destination: &Path) -> Result<bool, String> {
    let metadata = fs::symlink_metadata(source).map_err(|error| format!("cannot read: {error}"))?;
    let file_type = metadata.file_type();
    if file_type.is_char_device() && metadata.rdev() == 0 {
        return Ok(false);
    }
    if file_type.is_fifo() || file_type.is_socket() || file_type.is_char_device() || file_type.is_block_device() {
        return Err("not a regular file (FIFO, socket or device), not copied".to_string());
    }

    let target = destination.join(relative);
    prepare_parent(destination, relative).map_err(|error| format!("cannot create its directory: {error}"))?;
    if file_type.is_symlink() {
        let link = fs::read_link(source).map_err(|error| format!("cannot read the link: {error}"))?;
        std::os::unix::fs::symlink(&link, &target).map_err(|error| format!("cannot create the link: {error}"))?;
        return Ok(true);
    }
    copy_file(source, &target, &metadata).map_err(|error| format!("cannot copy: {error}"))?;
    Ok(true)
}

/// Creates the parent directories of `relative` below `destination`, refusing any existing
/// component that is not a real directory, so no write can follow a link out of it.
fn prepare_parent(destination: &Path, relative: &Path) -> io::Result<()> {
    let mut current = destination.to_path_buf();
    fs::create_dir_all(&current)?;
    let Some(parent) = relative.parent() else { return Ok(()) };
    for component in parent.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(io::Error::other(format!("{} is not a directory", current.display()))),
            Err(_) => fs::create_dir(&current)?,
        }
    }
    Ok(())
}

/// Copies a regular file; holes of a sparse file stay holes.
fn copy_file(source: &Path, target: &Path, metadata: &fs::Metadata) -> io::Result<()> {
    let mut input = fs::File::open(source)?;
    let mut output = fs::OpenOptions::new().write(true).create_new(true).open(target)?;
    let allocated = metadata.blocks() * 512;
    if allocated >= metadata.len() {
        io::copy(&mut input, &mut output)?;
        return Ok(());
    }
    copy_sparse(&input, &mut output, metadata.len())
}

fn copy_sparse(input: &fs::File, output: &mut fs::File, length: u64) -> io::Result<()> {
    use nix::unistd::{lseek, Whence};
    use std::io::{Read, Seek, SeekFrom, Write};

    output.set_len(length)?;
    let mut reader = input;
    let mut offset: i64 = 0;
    let mut buffer = vec![0u8; 1 << 16];
    while (offset as u64) < length {
        let data_start = match lseek(reader, offset, Whence::SeekData) {
            Ok(position) => position,
            Err(nix::Error::ENXIO) => break,
            Err(errno) => return Err(errno.into()),
        };
        let data_end = lseek(reader, data_start, Whence::SeekHole).map_err(io::Error::from)?;
        reader.seek(SeekFrom::Start(data_start as u64))?;
        output.seek(SeekFrom::Start(data_start as u64))?;
        let mut remaining = (data_end - data_start) as usize;
        while remaining > 0 {
            let chunk = remaining.min(buffer.len());
            reader.read_exact(&mut buffer[..chunk])?;
            output.write_all(&buffer[..chunk])?;
            remaining -= chunk;
        }
        offset = data_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> Matcher {
        build_matcher(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn relative_patterns_match_below_workdir_only() {
        let workdir = Path::new("/home/user/job");
        let matcher = matcher(&["out/*", "tmp/*"]);
        assert_eq!(matcher.output_path(Path::new("/home/user/job/out/a.txt"), workdir), Some(PathBuf::from("out/a.txt")));
        assert_eq!(matcher.output_path(Path::new("/tmp/h.txt"), workdir), None);
    }

    #[test]
    fn absolute_patterns_match_container_paths() {
        let workdir = Path::new("/home/user/job");
        let matcher = matcher(&["/tmp/*.txt"]);
        assert_eq!(matcher.output_path(Path::new("/tmp/h.txt"), workdir), Some(PathBuf::from("tmp/h.txt")));
    }

    #[test]
    fn star_does_not_cross_directories() {
        let workdir = Path::new("/w");
        let matcher = matcher(&["*.log", "out/**"]);
        assert!(matcher.output_path(Path::new("/w/a.log"), workdir).is_some());
        assert!(matcher.output_path(Path::new("/w/sub/a.log"), workdir).is_none());
        assert!(matcher.output_path(Path::new("/w/out/sub/t.txt"), workdir).is_some());
    }
}
