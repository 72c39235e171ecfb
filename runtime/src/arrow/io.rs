//! Files: Arrow IPC (the format pyarrow's `ipc.open_file` and polars' `read_ipc` map) and, with
//! the `parquet` feature, Parquet, through the arrow-rs crates' own writers and readers.

use super::{ArrowColumns, Error};
use crate::layout::StructVec;
use std::fs::File;
use std::path::Path;

fn create(path: &Path) -> Result<File, Error> {
    File::create(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

impl<C: ArrowColumns> StructVec<C> {
    /// Writes the rows to `path` as an Arrow IPC file (one record batch), which
    /// `pyarrow.ipc.open_file` and `polars.read_ipc` read (and map without copying).
    pub fn write_ipc(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.write_ipc_to(create(path.as_ref())?)?;
        Ok(())
    }

    /// Writes the rows as an Arrow IPC file into `writer` (a `Vec<u8>`, a socket, a file) and
    /// gives the writer back.
    pub fn write_ipc_to<W: std::io::Write>(&self, writer: W) -> Result<W, Error> {
        let batch = self.to_record_batch()?;
        let mut writer = arrow_ipc::writer::FileWriter::try_new(writer, &batch.schema())?;
        writer.write(&batch)?;
        writer.finish()?;
        Ok(writer.into_inner()?)
    }

    /// The rows as an Arrow IPC file in a new shared-memory segment (`keel::shm`), and the
    /// file's length: a Python process opens the segment by name with
    /// `multiprocessing.shared_memory` and reads the columns in place with
    /// `pyarrow.ipc.open_file(pyarrow.py_buffer(shm.buf[:length]))`, without copying them.
    #[cfg(all(unix, feature = "shm"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "shm"))))]
    pub fn to_shm_ipc(&self) -> Result<(crate::shm::Segment, usize), Error> {
        let bytes = self.write_ipc_to(Vec::new())?;
        let segment = crate::shm::Segment::create(bytes.len().max(1))?;
        segment.write_at(0, &bytes)?;
        Ok((segment, bytes.len()))
    }

    /// Reads an Arrow IPC file into a container, every value checked as
    /// [`try_from_record_batch`](Self::try_from_record_batch) does.
    pub fn read_ipc(path: impl AsRef<Path>) -> Result<Self, Error> {
        let reader = arrow_ipc::reader::FileReader::try_new(open(path.as_ref())?, None)?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Self::try_from_record_batches(&batches)
    }
}

#[cfg(feature = "parquet")]
#[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
impl<C: ArrowColumns> StructVec<C> {
    /// Writes the rows to `path` as a Parquet file (parquet's `ArrowWriter`, default
    /// properties: the Arrow schema, bounds metadata included, travels in the file).
    pub fn write_parquet(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.write_parquet_to(create(path.as_ref())?)?;
        Ok(())
    }

    /// Writes the rows as Parquet into `writer` and gives it back. The rows are converted and
    /// written [`PARQUET_CHUNK_ROWS`](super::PARQUET_CHUNK_ROWS) at a time, so the Arrow buffers
    /// stay small and are reused (the row groups are the writer's, as for one batch).
    pub fn write_parquet_to<W: std::io::Write + Send>(&self, writer: W) -> Result<W, Error> {
        let mut writer = parquet::arrow::ArrowWriter::try_new(writer, Self::arrow_schema(), None)?;
        for batch in self.record_batches(super::PARQUET_CHUNK_ROWS) {
            writer.write(&batch?)?;
        }
        Ok(writer.into_inner()?)
    }

    /// Reads a Parquet file (written by keel, pandas, polars, Spark...) into a container, every
    /// value checked as [`try_from_record_batch`](Self::try_from_record_batch) does.
    pub fn read_parquet(path: impl AsRef<Path>) -> Result<Self, Error> {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open(
            path.as_ref(),
        )?)?
        .build()?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Self::try_from_record_batches(&batches)
    }
}
