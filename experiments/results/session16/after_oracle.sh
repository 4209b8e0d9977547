set -x
cd /work/main
R=experiments/results/session16
O=runs/oracle_s5.safetensors
PYTHONPATH=. python experiments/oracle_compare.py $O > $R/oracle_compare_new.log 2>&1
vcn eval --weights weights/faces.safetensors --device cpu --oracle $O --json $R/eval_faces_new_oracle_plain.json > $R/eval_faces_new_oracle_plain.txt 2>&1
vcn eval --weights weights/faces.safetensors --device cpu --oracle $O --paste --json $R/eval_faces_new_oracle_pasted.json > $R/eval_faces_new_oracle_pasted.txt 2>&1
vcn eval --weights weights/baseline.safetensors --device cpu --oracle $O --json $R/eval_baseline_new_oracle.json > $R/eval_baseline_new_oracle.txt 2>&1
PYTHONPATH=. python experiments/kept_breakdown.py --oracle $O > $R/kept_breakdown_new_oracle.log 2>&1
PYTHONPATH=. python experiments/kept_breakdown.py --oracle $O --reference >> $R/kept_breakdown_new_oracle.log 2>&1
echo ALLDONE
