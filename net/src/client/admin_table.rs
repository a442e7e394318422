//! Admin results as the plain-text tables `petrel admin` prints (one header row, columns
//! padded to their widest cell, like mqadmin's output).

use petrel_core::protocol::{perm, ClusterInfo, TopicList, TopicRouteData};

use super::{ConsumerProgress, MessageList, MessageView, OffsetReset, TopicStatus};

/// `rows` under `headers`, each column as wide as its widest cell, separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        assert_eq!(row.len(), headers.len(), "a row has one cell per column");
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for cells in std::iter::once(&header_cells).chain(rows) {
        let line: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `clusterList`: one row per broker address.
pub fn cluster_table(info: &ClusterInfo) -> String {
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(broker) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &broker.broker_addrs {
                rows.push(vec![cluster.clone(), name.clone(), id.to_string(), addr.clone()]);
            }
        }
    }
    table(&["#Cluster Name", "#Broker Name", "#BID", "#Addr"], &rows)
}

/// `topicList`: one topic per line.
pub fn topic_list_text(list: &TopicList) -> String {
    list.topic_list.iter().map(|t| format!("{t}\n")).collect()
}

/// `topicRoute`: one row per broker group of the route.
pub fn route_table(route: &TopicRouteData) -> String {
    let rows: Vec<Vec<String>> = route
        .queue_datas
        .iter()
        .map(|queue| {
            let master = route
                .broker_datas
                .iter()
                .find(|broker| broker.broker_name == queue.broker_name)
                .and_then(|broker| broker.master_addr())
                .unwrap_or("-");
            vec![
                queue.broker_name.clone(),
                queue.read_queue_nums.to_string(),
                queue.write_queue_nums.to_string(),
                perm::to_display(queue.perm),
                master.to_owned(),
            ]
        })
        .collect();
    let headers = ["#Broker Name", "#Read Queues", "#Write Queues", "#Perm", "#Master"];
    table(&headers, &rows)
}

/// `topicStatus`: one row per queue.
pub fn status_table(status: &TopicStatus) -> String {
    let rows: Vec<Vec<String>> = status
        .queues
        .iter()
        .map(|queue| {
            vec![
                queue.broker_name.clone(),
                queue.queue_id.to_string(),
                queue.min_offset.to_string(),
                queue.max_offset.to_string(),
                queue.earliest_store_ms.to_string(),
            ]
        })
        .collect();
    let headers = ["#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Earliest Store Ms"];
    table(&headers, &rows)
}

/// `consumerProgress`: one row per queue, then the total diff.
pub fn progress_table(progress: &ConsumerProgress) -> String {
    let rows: Vec<Vec<String>> = progress
        .queues
        .iter()
        .map(|queue| {
            vec![
                queue.topic.clone(),
                queue.broker_name.clone(),
                queue.queue_id.to_string(),
                queue.broker_offset.to_string(),
                queue.consumer_offset.to_string(),
                queue.diff.to_string(),
                queue.last_timestamp.to_string(),
            ]
        })
        .collect();
    let headers = ["#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime Ms"];
    let mut out = table(&headers, &rows);
    out.push_str(&format!("\nDiff Total: {}\n", progress.diff_total));
    out
}

/// `queryMsgById`: one `name: value` line per field.
pub fn message_detail(message: &MessageView) -> String {
    let fields = [
        ("OffsetID", message.offset_msg_id.clone()),
        ("MsgId", message.msg_id.clone().unwrap_or_default()),
        ("Topic", message.topic.clone()),
        ("Tags", message.tags.clone().unwrap_or_default()),
        ("Keys", message.keys.join(" ")),
        ("Queue ID", message.queue_id.to_string()),
        ("Queue Offset", message.queue_offset.to_string()),
        ("Store Host", message.store_host.clone()),
        ("Born Timestamp", message.born_timestamp.to_string()),
        ("Store Timestamp", message.store_timestamp.to_string()),
        ("Body Bytes", message.body_bytes.to_string()),
        ("Body", message.body.clone()),
    ];
    fields.iter().map(|(name, value)| format!("{name:<16}{value}\n")).collect()
}

/// `queryMsgByKey`: one row per message.
pub fn message_table(list: &MessageList) -> String {
    let rows: Vec<Vec<String>> = list
        .messages
        .iter()
        .map(|message| {
            vec![
                message.msg_id.clone().unwrap_or_default(),
                message.offset_msg_id.clone(),
                message.queue_id.to_string(),
                message.queue_offset.to_string(),
                message.body.clone(),
            ]
        })
        .collect();
    table(&["#Message ID", "#Offset ID", "#QID", "#Offset", "#Body"], &rows)
}

/// `resetOffsetByTime`: one row per queue.
pub fn reset_table(reset: &OffsetReset) -> String {
    let rows: Vec<Vec<String>> = reset
        .queues
        .iter()
        .map(|queue| vec![queue.broker_name.clone(), queue.queue_id.to_string(), queue.offset.to_string()])
        .collect();
    table(&["#Broker Name", "#QID", "#New Offset"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns are padded to their widest cell and lines carry no trailing spaces.
    #[test]
    fn pads_columns() {
        let rows = vec![vec!["a".to_owned(), "1".to_owned()], vec!["long".to_owned(), String::new()]];
        assert_eq!(table(&["#N", "#V"], &rows), "#N    #V\na     1\nlong\n");
    }
}
