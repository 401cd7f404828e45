//! rabbitmqctl's formatters and its informational lines. The banner ("Listing queues for vhost
//! / ...") goes to standard output unless `--quiet`/`--silent` or a machine-readable formatter
//! (json, csv); the table formatter prints a header row before the first row (none when there
//! is no row) unless `--silent` or `--no-table-headers`.

use std::io::Write;

use clap::ValueEnum;

use super::value::{write_json_string, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Formatter {
    /// Tab-separated columns with a header row
    Table,
    /// One JSON object a line, in a JSON array
    Json,
    /// Comma-separated, every field quoted, with a header row
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub formatter: Formatter,
    pub quiet: bool,
    pub silent: bool,
    pub table_headers: bool,
}

impl Output {
    /// The informational lines a verb prints before its result.
    pub fn banner(&self, lines: &[String]) -> String {
        if self.quiet || self.silent || self.formatter != Formatter::Table {
            return String::new();
        }
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Rows of values under their keys, as the chosen formatter prints them.
    pub fn rows(&self, keys: &[&str], rows: &[Vec<Value>]) -> String {
        let mut out = String::new();
        match self.formatter {
            Formatter::Table => {
                if !rows.is_empty() && !self.silent && self.table_headers {
                    out.push_str(&keys.join("\t"));
                    out.push('\n');
                }
                for row in rows {
                    let cells: Vec<String> = row.iter().map(Value::to_table_cell).collect();
                    out.push_str(&cells.join("\t"));
                    out.push('\n');
                }
            }
            Formatter::Csv => {
                if !rows.is_empty() {
                    let header: Vec<String> = keys.iter().map(|k| csv_field(k)).collect();
                    out.push_str(&header.join(","));
                    out.push('\n');
                }
                for row in rows {
                    let cells: Vec<String> =
                        row.iter().map(|v| csv_field(&v.to_table_cell())).collect();
                    out.push_str(&cells.join(","));
                    out.push('\n');
                }
            }
            Formatter::Json => {
                out.push_str("[\n");
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    for (j, (key, value)) in keys.iter().zip(row).enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_json_string(key, &mut out);
                        out.push(':');
                        value.write_json(&mut out);
                    }
                    out.push_str("}\n");
                }
                out.push_str("]\n");
            }
        }
        out
    }
}

fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Writes to standard output; a closed pipe (`| head`) is not an error worth a message.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(formatter: Formatter) -> Output {
        Output {
            formatter,
            quiet: false,
            silent: false,
            table_headers: true,
        }
    }

    fn rows() -> Vec<Vec<Value>> {
        vec![
            vec![Value::Text("q2".into()), Value::Int(0)],
            vec![Value::Text("q\"1".into()), Value::Int(1)],
        ]
    }

    #[test]
    fn the_table_has_a_header_row_before_its_first_row() {
        let table = output(Formatter::Table);
        assert_eq!(
            table.rows(&["name", "messages"], &rows()),
            "name\tmessages\nq2\t0\nq\"1\t1\n"
        );
        assert_eq!(
            table.rows(&["name", "messages"], &[]),
            "",
            "no header without rows"
        );
        let silent = Output {
            silent: true,
            ..table
        };
        assert_eq!(
            silent.rows(&["name", "messages"], &rows()),
            "q2\t0\nq\"1\t1\n"
        );
        let headless = Output {
            table_headers: false,
            ..table
        };
        assert_eq!(headless.rows(&["name"], &rows()[..1]), "q2\t0\n");
    }

    #[test]
    fn json_and_csv_are_rabbitmqctls() {
        // As rabbitmqctl 3.10.8 prints `list_queues --formatter json` and `--formatter csv`.
        let json = output(Formatter::Json);
        assert_eq!(
            json.rows(&["name", "messages"], &rows()),
            "[\n{\"name\":\"q2\",\"messages\":0}\n,{\"name\":\"q\\\"1\",\"messages\":1}\n]\n"
        );
        assert_eq!(json.rows(&["name"], &[]), "[\n]\n");
        let csv = Output {
            silent: true,
            ..output(Formatter::Csv)
        };
        assert_eq!(
            csv.rows(&["name", "messages"], &rows()),
            "\"name\",\"messages\"\n\"q2\",\"0\"\n\"q\"\"1\",\"1\"\n"
        );
        assert_eq!(csv.rows(&["name"], &[]), "");
    }

    #[test]
    fn the_banner_is_for_people() {
        let lines = ["Listing queues for vhost / ...".to_string()];
        assert_eq!(
            output(Formatter::Table).banner(&lines),
            "Listing queues for vhost / ...\n"
        );
        assert_eq!(output(Formatter::Json).banner(&lines), "");
        let quiet = Output {
            quiet: true,
            ..output(Formatter::Table)
        };
        assert_eq!(quiet.banner(&lines), "");
    }
}
