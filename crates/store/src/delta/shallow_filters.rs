//! A Delta table provider that keeps long `IN` lists out of its scan.
//!
//! delta-rs turns a filter pushed into its scan into a kernel predicate for
//! file skipping, lowering `x IN (a, b, …)` into `x = a OR x = b OR …`: a
//! chain as deep as the list, which the recursive conversion walks on the
//! stack. A list of a few thousand values (an analyst's query, the
//! server's own silences) overflowed it and aborted the process. Such a
//! filter is applied above the scan instead, as DataFusion does for any
//! filter a provider declines; short lists still skip files.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Constraints, Statistics};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// The most values an `IN` list may hold and still be pushed into a scan.
pub(crate) const MAX_PUSHED_IN_LIST: usize = 64;

/// `inner`, declining to take filters with a long `IN` list.
#[derive(Debug)]
pub(crate) struct ShallowFilters(pub(crate) Arc<dyn TableProvider>);

/// Whether `expr` holds an `IN` list longer than [`MAX_PUSHED_IN_LIST`].
fn has_long_in_list(expr: &Expr) -> bool {
    let mut long = false;
    // The closure never fails, so neither does the walk.
    let _ = expr.apply(|e| {
        if let Expr::InList(list) = e
            && list.list.len() > MAX_PUSHED_IN_LIST
        {
            long = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    long
}

#[async_trait]
impl TableProvider for ShallowFilters {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.0.constraints()
    }

    fn table_type(&self) -> TableType {
        self.0.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let shallow: Vec<&Expr> = filters
            .iter()
            .copied()
            .filter(|f| !has_long_in_list(f))
            .collect();
        let mut answers = self.0.supports_filters_pushdown(&shallow)?.into_iter();
        Ok(filters
            .iter()
            .map(|f| {
                if has_long_in_list(f) {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    answers
                        .next()
                        .unwrap_or(TableProviderFilterPushDown::Unsupported)
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        self.0.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn only_long_lists_are_long() {
        let short = col("a").in_list(
            (0..MAX_PUSHED_IN_LIST).map(|i| lit(i as i64)).collect(),
            false,
        );
        let long = col("a").in_list(
            (0..=MAX_PUSHED_IN_LIST).map(|i| lit(i as i64)).collect(),
            true,
        );
        assert!(!has_long_in_list(&short));
        assert!(has_long_in_list(&long));
        assert!(has_long_in_list(&col("b").eq(lit(1)).and(long)));
    }
}
